export * from './embedded.js';
export * from './statements.js';
