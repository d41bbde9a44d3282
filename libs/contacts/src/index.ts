export * from './phone.js';
export * from './policy.js';
export * from './emergency-contacts.service.js';
export * from './contacts.module.js';
