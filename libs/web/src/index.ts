export * from './html.js';
export * from './cookies.js';
