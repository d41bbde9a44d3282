export * from './people.service.js';
