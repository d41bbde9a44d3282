export * from './audit-query.js';
export * from './audit.service.js';
export * from './chain.js';
export * from './audit.module.js';
