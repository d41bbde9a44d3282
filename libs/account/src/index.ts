export * from './machines.js';
export * from './common.js';
export * from './step-up.service.js';
export * from './credential-change.service.js';
export * from './contact-change.service.js';
export * from './language.service.js';
export * from './account-sessions.service.js';
export * from './account.module.js';
