export * from './flow-store.js';
