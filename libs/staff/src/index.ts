export * from './roles.js';
export * from './setup-code.js';
export * from './setup-message.js';
export * from './staff-session.service.js';
export * from './staff.service.js';
export * from './staff-signin.service.js';
export * from './staff.module.js';
