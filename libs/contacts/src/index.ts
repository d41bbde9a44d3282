export * from './phone.js';
export * from './policy.js';
export {
  contactBinding,
  type ContactActor,
  type ContactOutcome,
  type ContactRow,
  type EmergencyContacts,
  type PendingCode,
  type PolicyColumns,
} from './emergency-contacts.model.js';
export { ContactVerificationService } from './contact-verification.service.js';
export * from './emergency-contacts.service.js';
export * from './contacts.module.js';
