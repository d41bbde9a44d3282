export * from './acr.js';
export * from './clients.js';
export * from './pg-adapter.js';
export * from './provider.js';
export * from './purge.js';
export * from './signing-keys.js';
export * from './bearer.js';
