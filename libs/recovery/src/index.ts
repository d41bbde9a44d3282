export * from './machine.js';
export * from './security-code.guard.js';
export * from './recovery.service.js';
export * from './recovery.module.js';
