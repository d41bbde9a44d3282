export * from './html.js';
export * from './cookies.js';
export * from './forms.js';
export * from './unavailable.js';
export * from './routes.js';
export * from './app-web.js';
export * from './problem.js';
export * from './table.js';
