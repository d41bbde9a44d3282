export * from './throttle.service.js';
