export * from './verification.js';
export * from './session.service.js';
export * from './device.service.js';
export { endSessionOfUser, openSessionsWithApps } from './sessions.queries.js';
export * from './sessions.module.js';
