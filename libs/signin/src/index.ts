export * from './common.js';
export * from './machines.js';
export * from './signin.service.js';
export * from './signin-finish.js';
export * from './enrollment.service.js';
export * from './otp-queue.adapter.js';
export * from './signin.module.js';
