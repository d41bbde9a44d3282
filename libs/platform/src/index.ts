export * from './data-source.js';
export * from './platform.module.js';
export * from './serve.js';
