export * from './code.js';
export * from './code-step.js';
export * from './code-step.service.js';
export * from './mask.js';
export * from './otp.module.js';
export * from './otp.service.js';
export * from './step-error.js';
export * from './types.js';
