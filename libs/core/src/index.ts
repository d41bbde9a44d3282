export * from './clock.js';
export * from './errors.js';
export * from './text.js';
export * from './kept-copies.js';
export * from './elapsed.js';
export * from './channel.js';
export * from './flow-step-error.js';
