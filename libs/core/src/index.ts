export * from './clock.js';
export * from './errors.js';
export * from './text.js';
export * from './kept-copies.js';
export * from './elapsed.js';
