export * from './code.js';
export * from './mask.js';
export * from './otp.module.js';
export * from './otp.service.js';
export * from './types.js';
