import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, KeptCopies, type Channel } from '#libs/core';
import { Directory, checkEmail, type UserRecord } from '#libs/identity';
import { maskDestination } from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import { ContactVerificationService } from './contact-verification.service.js';
import { checkEmergencyPhone, channelRefusal, phoneChannels } from './phone.js';
import {
  contactPrompt,
  missingContacts,
  remindersLeft,
  type ContactPolicy,
  type ContactPrompt,
  type EmergencyContactKind,
} from './policy.js';
import {
  clearContactChannel,
  contactPolicyOfOrganization,
  contactPolicyOfUser,
  contactRowForUpdate,
  ensureContactRow,
  insertContactDeferral,
  setContactEmail,
  setContactPhone,
  useContactReminder,
} from './emergency-contacts.queries.js';
import {
  Rollback,
  activeUser,
  contactEvent,
  currentRow,
  fail,
  kindName,
  policyOf,
  type ContactActor,
  type ContactOutcome,
  type ContactRow,
  type EmergencyContacts,
} from './emergency-contacts.model.js';

/** How long a node keeps whether an organization requires verified contacts (promptAfterSignIn). */
export const POLICY_COPY_MS = 5000;
const POLICY_COPIES_MAX = 10_000;

/**
 * Emergency contacts (issue 7): an email address and a phone number per user, separate from
 * the sign-in contacts, each proven by a one-time code (purpose `verification`, bound to the
 * value, 10 minutes, 5 attempts, single use) sent through the outbox with a link-free
 * message. Changing a value makes it unverified. The organization policy may require
 * verified contacts; `prompt` tells pages whether to ask, and `remindLater` postpones the
 * question a limited number of times. Every add, change, removal, verification and
 * postponement is audited (masked values only). This is the owner's side (their contacts,
 * the policy's question); sending and checking the codes is ContactVerificationService's.
 */
@Injectable()
export class EmergencyContactService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly directory: Directory,
    private readonly audit: AuditService,
    private readonly verification: ContactVerificationService,
  ) {}

  /** Per organization, whether it requires verified contacts (promptAfterSignIn). */
  private readonly requiresContacts = new KeptCopies<boolean>(POLICY_COPY_MS, POLICY_COPIES_MAX);

  /** The user's emergency contacts, codes in flight and what the policy asks. */
  async view(userId: string): Promise<EmergencyContacts> {
    const user = await activeUser(this.directory, userId);
    const [row, policy] = await Promise.all([currentRow(this.dataSource, user.id), this.policy(user.organizationId)]);
    const now = this.clock.now();
    const pending = async (challengeId: string | null, messageId: string | null, expiresAt: Date | null, channel: Channel | null) => {
      if (!challengeId || !messageId || !expiresAt || !channel || expiresAt.getTime() <= now.getTime()) return null;
      return { channel, expiresAt, delivery: await this.verification.delivery(messageId) };
    };
    const kind = row.phone_type;
    return {
      email: {
        address: row.email,
        verifiedAt: row.email_verified_at,
        pending: await pending(row.email_challenge_id, row.email_message_id, row.email_code_expires_at, 'email'),
      },
      phone: {
        number: row.phone,
        kind,
        channels: kind ? phoneChannels(kind) : [],
        verifiedAt: row.phone_verified_at,
        verifiedBy: row.phone_verified_by,
        pending: await pending(row.phone_challenge_id, row.phone_message_id, row.phone_code_expires_at, row.phone_code_channel),
      },
      policy: { ...policy, remindersUsed: row.reminders_used, remindersLeft: remindersLeft(policy, row.reminders_used) },
      missing: missingContacts(policy, { emailVerified: row.email_verified_at !== null, phoneVerified: row.phone_verified_at !== null }),
    };
  }

  /**
   * Whether this user, in this session, must be asked to verify required contacts now (after
   * sign-in, before an OIDC answer). Without a session, a postponement never counts.
   */
  async prompt(userId: string, sessionId: string | null): Promise<ContactPrompt> {
    // One statement: this runs after every sign-in (pages, the JSON API, the OIDC interaction check).
    const rows = await contactPolicyOfUser(this.dataSource, [userId, sessionId]);
    const r = rows[0];
    if (!r) return { ask: false, missing: [] };
    return contactPrompt(policyOf(r), {
      emailVerified: r.email_verified,
      phoneVerified: r.phone_verified,
      remindersUsed: r.reminders_used,
      deferredThisSession: r.deferred,
    });
  }

  /**
   * `prompt` for a session that was just started, asked after every sign-in of the JSON API: an
   * organization that requires no verified contacts (most do not) is known from a copy of its
   * policy kept `POLICY_COPY_MS` per node, so its sign-ins send no statement for this; a policy
   * change reaches them within that time.
   */
  async promptAfterSignIn(userId: string, organizationId: string): Promise<ContactPrompt> {
    const requires = await this.requiresContacts.get(organizationId, this.clock.now().getTime(), async () => {
      const policy = await this.policy(organizationId);
      return policy.requireEmail || policy.requirePhone;
    });
    return requires ? await this.prompt(userId, null) : { ask: false, missing: [] };
  }

  /** Sets (adds or changes) the emergency email and sends it a code. The same address again only sends a new code if it is unverified. */
  async setEmail(actor: ContactActor, raw: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await activeUser(this.directory, actor.userId);
    const text = typeof raw === 'string' ? raw.slice(0, 400) : '';
    if (text.trim() === '') return fail('invalid_email', 'Enter an email address.', 'email');
    const checked = checkEmail(text);
    if (!checked.ok) return fail('invalid_email', 'Enter a valid email address.', 'email');
    const { display, key } = checked.value;
    const saved = await this.change(user, actor, meta, 'email', async (m, row, now) => {
      if (row.email_key === key) return row.email_verified_at ? 'verified' : 'same';
      await setContactEmail(m, [user.id, display, key, now]);
      return {
        type: row.email ? 'emergency_contact.email_changed' : 'emergency_contact.email_added',
        details: { previous: row.email ? maskDestination('email', row.email) : null, email: maskDestination('email', display) },
      };
    });
    if (saved === 'verified') return { ok: true, status: 'unchanged' };
    return await this.verification.send(actor, 'email', undefined, meta, saved === 'changed' ? 'saved' : 'code_sent');
  }

  /**
   * Sets (adds or changes) the emergency phone and sends it a code by `channel` (a text
   * message for a mobile number, a call for a landline, when unset). A landline offers
   * voice only: asking for a text message to one is refused with a clear message.
   */
  async setPhone(actor: ContactActor, raw: unknown, channel: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await activeUser(this.directory, actor.userId);
    const checked = checkEmergencyPhone(typeof raw === 'string' ? raw.slice(0, 64) : '');
    if (!checked.ok) return fail('invalid_phone', checked.reason, 'phone');
    const phone = checked.value;
    const chosen = channel === undefined || channel === null || channel === '' ? phone.channels[0]! : channel;
    if (chosen !== 'sms' && chosen !== 'voice') return fail('invalid_channel', 'Choose a text message or a voice call.', 'channel');
    const refusal = channelRefusal(phone.kind, chosen);
    if (refusal) return fail('sms_not_available', refusal, 'channel');
    const saved = await this.change(user, actor, meta, 'phone', async (m, row, now) => {
      if (row.phone === phone.number) return row.phone_verified_at ? 'verified' : 'same';
      await setContactPhone(m, [user.id, phone.number, phone.kind, now]);
      return {
        type: row.phone ? 'emergency_contact.phone_changed' : 'emergency_contact.phone_added',
        details: {
          previous: row.phone ? maskDestination('sms', row.phone) : null,
          phone: maskDestination('sms', phone.number),
          phone_type: phone.kind,
        },
      };
    });
    if (saved === 'verified') return { ok: true, status: 'unchanged' };
    return await this.verification.send(actor, 'phone', chosen, meta, saved === 'changed' ? 'saved' : 'code_sent');
  }

  /** Removes a contact (and any code in flight for it). */
  async remove(actor: ContactActor, kind: EmergencyContactKind, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await activeUser(this.directory, actor.userId);
    const result = await this.change(user, actor, meta, kind, async (m, row, now) => {
      const previous = kind === 'email' ? row.email : row.phone;
      if (!previous) return 'same';
      await clearContactChannel(m, kind, [user.id, now]);
      return {
        type: `emergency_contact.${kind}_removed`,
        details: { previous: maskDestination(kind === 'email' ? 'email' : 'sms', previous) },
      };
    });
    return result === 'changed'
      ? { ok: true, status: 'removed' }
      : fail('no_contact', `There is no emergency ${kindName(kind)} to remove.`);
  }

  /** "Send a new code" (for a phone, by the same or the other allowed channel). */
  async resend(actor: ContactActor, kind: EmergencyContactKind, channel: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    await activeUser(this.directory, actor.userId);
    return await this.verification.send(actor, kind, channel, meta, 'code_sent');
  }

  /** Checks a code for the contact as it is now (ContactVerificationService.verify). */
  verify(actor: ContactActor, kind: EmergencyContactKind, code: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    return this.verification.verify(actor, kind, code, meta);
  }

  /**
   * "Remind me later": postpones the question for this session, at most `reminderLimit`
   * times per user (counted atomically); after that the user must verify to continue.
   */
  async remindLater(actor: ContactActor, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await activeUser(this.directory, actor.userId);
    if (!actor.sessionId) return fail('session_required', 'Only a signed-in session can postpone this.');
    const sessionId = actor.sessionId;
    const policy = await this.policy(user.organizationId);
    try {
      return await this.dataSource.transaction(async (m: EntityManager) => {
        const row = await this.lockRow(m, user.id);
        const missing = missingContacts(policy, {
          emailVerified: row.email_verified_at !== null,
          phoneVerified: row.phone_verified_at !== null,
        });
        if (missing.length === 0) return { ok: true, status: 'unchanged' as const };
        const now = this.clock.now();
        // INSERT … RETURNING answers the rows themselves (UPDATE answers [rows, count]).
        const inserted = await insertContactDeferral(m, [sessionId, user.id, now]);
        if (inserted.length === 0) return { ok: true, status: 'deferred' as const };
        const [counted] = await useContactReminder(m, [user.id, policy.reminderLimit, now]);
        if (counted.length === 0) {
          throw new Rollback(
            fail(
              'reminder_limit_reached',
              policy.reminderLimit === 0
                ? 'Your organization asks you to verify your emergency contacts now.'
                : `You have already postponed this ${policy.reminderLimit === 1 ? 'once' : `${policy.reminderLimit} times`}. Verify your emergency contacts to continue.`,
            ),
          );
        }
        await this.record(m, user, actor, meta, 'emergency_contact.reminder_deferred', {
          missing,
          reminders_used: counted[0]!.reminders_used,
          reminder_limit: policy.reminderLimit,
        });
        return { ok: true, status: 'deferred' as const };
      });
    } catch (error) {
      if (!(error instanceof Rollback)) throw error;
      // Refused postponements are security-relevant too (someone keeps skipping a required step).
      await this.record(this.dataSource.manager, user, actor, meta, 'emergency_contact.reminder_refused', {
        reminder_limit: policy.reminderLimit,
      });
      return error.outcome;
    }
  }

  /**
   * Runs one change of a contact in a transaction on the user's (locked) row, auditing it
   * there. `apply` answers `same`/`verified` when nothing is to change, or the audit event.
   */
  private async change(
    user: UserRecord,
    actor: ContactActor,
    meta: RequestMeta,
    kind: EmergencyContactKind,
    apply: (
      m: EntityManager,
      row: ContactRow,
      now: Date,
    ) => Promise<'same' | 'verified' | { type: string; details: Record<string, unknown> }>,
  ): Promise<'same' | 'verified' | 'changed'> {
    return await this.dataSource.transaction(async (m: EntityManager) => {
      const row = await this.lockRow(m, user.id);
      const now = this.clock.now();
      const applied = await apply(m, row, now);
      if (typeof applied === 'string') return applied;
      await this.record(m, user, actor, meta, applied.type, { ...applied.details, kind });
      return 'changed';
    });
  }

  private async record(
    m: EntityManager,
    user: UserRecord,
    actor: ContactActor,
    meta: RequestMeta,
    type: string,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record(contactEvent(user, actor, meta, type, details), m);
  }

  private async lockRow(m: EntityManager, userId: string): Promise<ContactRow> {
    const now = this.clock.now();
    await ensureContactRow(m, [userId, now]);
    const rows = await contactRowForUpdate(m, [userId]);
    return rows[0]!;
  }

  /** The policy columns this feature added to `organization_policies`. */
  private async policy(organizationId: string): Promise<ContactPolicy> {
    const rows = await contactPolicyOfOrganization(this.dataSource, [organizationId]);
    return policyOf(rows[0]);
  }
}
