export * from './throttle.service.js';
export * from './throttle.module.js';
