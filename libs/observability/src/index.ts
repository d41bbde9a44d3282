export * from './logging.js';
export * from './health.controller.js';
