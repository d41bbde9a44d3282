export * from './embedded.js';
export * from './server.queries.js';
export * from './statements.js';
export * from './unavailable.js';
