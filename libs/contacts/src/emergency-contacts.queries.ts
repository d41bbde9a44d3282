import type { ContactRow, PolicyColumns } from './emergency-contacts.model.js';
import type { PhoneChannel } from './phone.js';
import type { EmergencyContactKind } from './policy.js';
import type { Queryable } from '#libs/database';

/** The statements on emergency contacts, their deferrals, and the organization policy they follow (the emergency contacts aggregate). */

/** Anything that runs a statement: a DataSource, an EntityManager or a QueryRunner. */

export function contactPolicyOfUser(db: Queryable, values: unknown[]) {
  return db.query<Array<PolicyColumns & { email_verified: boolean; phone_verified: boolean; reminders_used: number; deferred: boolean }>>(
    `SELECT p.require_verified_emergency_email AS require_email, p.require_verified_emergency_phone AS require_phone,
              p.contact_reminder_limit AS reminder_limit,
              c.email_verified_at IS NOT NULL AS email_verified, c.phone_verified_at IS NOT NULL AS phone_verified,
              coalesce(c.reminders_used, 0) AS reminders_used,
              EXISTS (SELECT 1 FROM emergency_contact_deferrals d WHERE d.session_id = $2 AND d.user_id = u.id) AS deferred
         FROM users u
         LEFT JOIN organization_policies p ON p.organization_id = u.organization_id
         LEFT JOIN emergency_contacts c ON c.user_id = u.id
        WHERE u.id = $1 AND u.status = 'active'`,
    values,
  );
}

export function setContactEmail(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE emergency_contacts SET email = $2, email_key = $3, email_verified_at = NULL, email_challenge_id = NULL,
                email_message_id = NULL, email_code_expires_at = NULL, updated_at = $4 WHERE user_id = $1`,
    values,
  );
}

export function setContactPhone(db: Queryable, values: unknown[]) {
  return db.query(
    `UPDATE emergency_contacts SET phone = $2, phone_type = $3, phone_verified_at = NULL, phone_verified_by = NULL,
                phone_challenge_id = NULL, phone_message_id = NULL, phone_code_channel = NULL, phone_code_expires_at = NULL,
                updated_at = $4 WHERE user_id = $1`,
    values,
  );
}

export function clearContactChannel(db: Queryable, kind: EmergencyContactKind, values: unknown[]) {
  return db.query(
    kind === 'email'
      ? `UPDATE emergency_contacts SET email = NULL, email_key = NULL, email_verified_at = NULL, email_challenge_id = NULL,
                    email_message_id = NULL, email_code_expires_at = NULL, updated_at = $2 WHERE user_id = $1`
      : `UPDATE emergency_contacts SET phone = NULL, phone_type = NULL, phone_verified_at = NULL, phone_verified_by = NULL,
                    phone_challenge_id = NULL, phone_message_id = NULL, phone_code_channel = NULL, phone_code_expires_at = NULL,
                    updated_at = $2 WHERE user_id = $1`,
    values,
  );
}

export function markContactChannelVerified(db: Queryable, kind: EmergencyContactKind, values: unknown[]) {
  return db.query<[Array<{ channel: PhoneChannel | null }>, number]>(
    kind === 'email'
      ? `UPDATE emergency_contacts SET email_verified_at = $4, email_challenge_id = NULL, email_message_id = NULL,
                      email_code_expires_at = NULL, updated_at = $4
                WHERE user_id = $1 AND email_key = $2 AND email_challenge_id = $3 RETURNING NULL::text AS channel`
      : `UPDATE emergency_contacts SET phone_verified_at = $4, phone_verified_by = phone_code_channel, phone_challenge_id = NULL,
                      phone_message_id = NULL, phone_code_channel = NULL, phone_code_expires_at = NULL, updated_at = $4
                WHERE user_id = $1 AND phone = $2 AND phone_challenge_id = $3 RETURNING phone_verified_by AS channel`,
    values,
  );
}

export function insertContactDeferral(db: Queryable, values: unknown[]) {
  return db.query<unknown[]>(
    `INSERT INTO emergency_contact_deferrals (session_id, user_id, deferred_at) VALUES ($1, $2, $3)
           ON CONFLICT (session_id) DO NOTHING RETURNING session_id`,
    values,
  );
}

export function useContactReminder(db: Queryable, values: unknown[]) {
  return db.query<[Array<{ reminders_used: number }>, number]>(
    `UPDATE emergency_contacts SET reminders_used = reminders_used + 1, updated_at = $3
            WHERE user_id = $1 AND reminders_used < $2 RETURNING reminders_used`,
    values,
  );
}

export function recordContactChallenge(db: Queryable, kind: EmergencyContactKind, values: unknown[]) {
  return db.query(
    kind === 'email'
      ? `UPDATE emergency_contacts SET email_challenge_id = $3, email_message_id = $4, email_code_expires_at = $5
                WHERE user_id = $1 AND email_key = $2 AND email_verified_at IS NULL`
      : `UPDATE emergency_contacts SET phone_challenge_id = $3, phone_message_id = $4, phone_code_expires_at = $5, phone_code_channel = $6
                WHERE user_id = $1 AND phone = $2 AND phone_verified_at IS NULL`,
    values,
  );
}

export function ensureContactRow(db: Queryable, values: unknown[]) {
  return db.query(
    `INSERT INTO emergency_contacts (user_id, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (user_id) DO NOTHING`,
    values,
  );
}

export function contactRowForUpdate(db: Queryable, values: unknown[]) {
  return db.query<ContactRow[]>(`SELECT * FROM emergency_contacts WHERE user_id = $1 FOR UPDATE`, values);
}

export function contactRowOf(db: Queryable, values: unknown[]) {
  return db.query<ContactRow[]>(`SELECT * FROM emergency_contacts WHERE user_id = $1`, values);
}

export function contactPolicyOfOrganization(db: Queryable, values: unknown[]) {
  return db.query<PolicyColumns[]>(
    `SELECT require_verified_emergency_email AS require_email, require_verified_emergency_phone AS require_phone,
              contact_reminder_limit AS reminder_limit
         FROM organization_policies WHERE organization_id = $1`,
    values,
  );
}
