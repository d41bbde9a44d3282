export * from './embedded.js';
export * from './statements.js';
export * from './unavailable.js';
