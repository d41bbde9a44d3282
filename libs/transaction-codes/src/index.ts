export * from './derived-code.js';
export * from './local-day.js';
export * from './request.js';
export * from './transaction-codes.service.js';
export * from './verifier-grants.js';
export * from './transaction-codes.module.js';
