export * from './config.js';
export * from './secrets.js';
export * from './app-choices.js';
