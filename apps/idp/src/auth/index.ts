export * from './decorators.js';
export * from './idp-auth.guard.js';
export * from './page-answer.js';
export * from './routes.js';
export * from './body.js';
