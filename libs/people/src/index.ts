export * from './people.service.js';
export * from './people.module.js';
