export * from './flow-store.js';
export * from './flows.module.js';
