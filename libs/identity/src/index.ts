export * from './entities.js';
export * from './normalize.js';
export * from './legacy-hash.js';
export * from './password-hasher.js';
export * from './organization.service.js';
export * from './legacy-account.store.js';
