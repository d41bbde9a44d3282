export * from './decorators.js';
export * from './staff-auth.guard.js';
export * from './routes.js';
export { assertCanActOn, hasRole, type ActionTarget, type StaffPrincipal, type StaffRole } from '#libs/staff';
