export * from './machine.js';
export * from './security-code.guard.js';
export {
  DEFAULT_RECOVERY_OPTIONS,
  GENERIC_CODE_SENT,
  RECOVERY_IP_RULE,
  RECOVERY_OPTIONS,
  RECOVERY_TARGET_RULE,
  type IdentifyInput,
  type RecoveryOptions,
  type RecoveryOutcome,
  type UnstartedRecovery,
} from './details.js';
export { RecoveryFlows } from './recovery-flows.js';
export { PasswordResetService } from './password-reset.service.js';
export * from './recovery.service.js';
export * from './recovery.module.js';
