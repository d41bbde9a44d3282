import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { sessionEnded } from '#libs/account';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, KeptCopies, type Channel } from '#libs/core';
import { Directory, checkEmail, type UserRecord } from '#libs/identity';
import { CodeStepService, maskDestination, type CodeVerify, type Delivery, type StepError } from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import { checkEmergencyPhone, channelRefusal, phoneChannels, type PhoneChannel, type PhoneKind } from './phone.js';
import {
  DEFAULT_CONTACT_POLICY,
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
  contactRowOf,
  ensureContactRow,
  insertContactDeferral,
  markContactChannelVerified,
  recordContactChallenge,
  setContactEmail,
  setContactPhone,
  useContactReminder,
} from './emergency-contacts.queries.js';

/** Who is acting: the signed-in user in a session (pages, session API), or a relying app with the user's access token. */
export interface ContactActor {
  userId: string;
  sessionId?: string;
  clientId?: string;
}

export interface PendingCode {
  channel: Channel;
  expiresAt: Date;
  delivery: Delivery;
}

export interface EmergencyContacts {
  email: { address: string | null; verifiedAt: Date | null; pending: PendingCode | null };
  phone: {
    number: string | null;
    kind: PhoneKind | null;
    channels: PhoneChannel[];
    verifiedAt: Date | null;
    verifiedBy: PhoneChannel | null;
    pending: PendingCode | null;
  };
  policy: ContactPolicy & { remindersUsed: number; remindersLeft: number };
  /** Contacts the policy requires that are not verified. */
  missing: EmergencyContactKind[];
}

/**
 * What a change did. `ok: false`: nothing changed (bad input, a wrong code, no reminder
 * left); `error` says why and `field` names the input. `ok: true` may still carry an error:
 * the contact was saved but its code could not be sent (cooldown, hourly cap, delivery).
 */
export interface ContactOutcome {
  ok: boolean;
  status?: 'saved' | 'unchanged' | 'code_sent' | 'verified' | 'removed' | 'deferred';
  error?: StepError;
  field?: 'email' | 'phone' | 'channel' | 'code';
  delivery?: Delivery;
}

export interface ContactRow {
  email: string | null;
  email_key: string | null;
  email_verified_at: Date | null;
  email_challenge_id: string | null;
  email_message_id: string | null;
  email_code_expires_at: Date | null;
  phone: string | null;
  phone_type: PhoneKind | null;
  phone_verified_at: Date | null;
  phone_verified_by: PhoneChannel | null;
  phone_challenge_id: string | null;
  phone_message_id: string | null;
  phone_code_channel: PhoneChannel | null;
  phone_code_expires_at: Date | null;
  reminders_used: number;
}

const EMPTY_ROW: ContactRow = {
  email: null,
  email_key: null,
  email_verified_at: null,
  email_challenge_id: null,
  email_message_id: null,
  email_code_expires_at: null,
  phone: null,
  phone_type: null,
  phone_verified_at: null,
  phone_verified_by: null,
  phone_challenge_id: null,
  phone_message_id: null,
  phone_code_channel: null,
  phone_code_expires_at: null,
  reminders_used: 0,
};

const fail = (code: string, message: string, field?: ContactOutcome['field']): ContactOutcome => ({
  ok: false,
  error: { code, message },
  ...(field ? { field } : {}),
});

/** Thrown inside a transaction to roll it back with an answer for the caller. */
class Rollback extends Error {
  constructor(readonly outcome: ContactOutcome) {
    super(outcome.error?.code ?? 'rollback');
  }
}

/**
 * The code of an emergency contact is bound to its value: the OTP's flow id is derived from
 * the contact's kind and comparison key, so a code sent to one address or number never
 * verifies another, even one set a moment later.
 */
export function contactBinding(kind: EmergencyContactKind, key: string): string {
  return `emergency_contact:${kind}:${createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 40)}`;
}

/** How long a node keeps whether an organization requires verified contacts (promptAfterSignIn). */
export const POLICY_COPY_MS = 5000;
const POLICY_COPIES_MAX = 10_000;

/** The policy columns this feature added to `organization_policies`, as its statements select them (null: no policy row). */
export interface PolicyColumns {
  require_email: boolean | null;
  require_phone: boolean | null;
  reminder_limit: number | null;
}

/** An organization's contact policy from its row; the defaults when it has none. */
function policyOf(r: PolicyColumns | undefined): ContactPolicy {
  if (!r || r.require_email === null) return { ...DEFAULT_CONTACT_POLICY };
  return { requireEmail: r.require_email, requirePhone: r.require_phone === true, reminderLimit: r.reminder_limit ?? 0 };
}

/**
 * Emergency contacts (issue 7): an email address and a phone number per user, separate from
 * the sign-in contacts, each proven by a one-time code (purpose `verification`, bound to the
 * value, 10 minutes, 5 attempts, single use) sent through the outbox with a link-free
 * message. Changing a value makes it unverified. The organization policy may require
 * verified contacts; `prompt` tells pages whether to ask, and `remindLater` postpones the
 * question a limited number of times. Every add, change, removal, verification and
 * postponement is audited (masked values only).
 */
@Injectable()
export class EmergencyContactService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly directory: Directory,
    private readonly codes: CodeStepService,
    private readonly audit: AuditService,
  ) {}

  /** Per organization, whether it requires verified contacts (promptAfterSignIn). */
  private readonly requiresContacts = new KeptCopies<boolean>(POLICY_COPY_MS, POLICY_COPIES_MAX);

  /** The user's emergency contacts, codes in flight and what the policy asks. */
  async view(userId: string): Promise<EmergencyContacts> {
    const user = await this.requireUser(userId);
    const [row, policy] = await Promise.all([this.row(user.id), this.policy(user.organizationId)]);
    const now = this.clock.now();
    const pending = async (challengeId: string | null, messageId: string | null, expiresAt: Date | null, channel: Channel | null) => {
      if (!challengeId || !messageId || !expiresAt || !channel || expiresAt.getTime() <= now.getTime()) return null;
      return { channel, expiresAt, delivery: await this.delivery(messageId) };
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
    const user = await this.requireUser(actor.userId);
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
    return await this.sendCode(actor, 'email', undefined, meta, saved === 'changed' ? 'saved' : 'code_sent');
  }

  /**
   * Sets (adds or changes) the emergency phone and sends it a code by `channel` (a text
   * message for a mobile number, a call for a landline, when unset). A landline offers
   * voice only: asking for a text message to one is refused with a clear message.
   */
  async setPhone(actor: ContactActor, raw: unknown, channel: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await this.requireUser(actor.userId);
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
    return await this.sendCode(actor, 'phone', chosen, meta, saved === 'changed' ? 'saved' : 'code_sent');
  }

  /** Removes a contact (and any code in flight for it). */
  async remove(actor: ContactActor, kind: EmergencyContactKind, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await this.requireUser(actor.userId);
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
    await this.requireUser(actor.userId);
    return await this.sendCode(actor, kind, channel, meta, 'code_sent');
  }

  /**
   * Checks a code for the contact as it is now. A wrong code uses one of its 5 attempts
   * (counted atomically by the OTP engine, even under parallel guesses); the right one is
   * consumed, and the contact's verification time is set in the same transaction.
   */
  async verify(actor: ContactActor, kind: EmergencyContactKind, code: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await this.requireUser(actor.userId);
    const row = await this.row(user.id);
    const value = kind === 'email' ? row.email : row.phone;
    const key = kind === 'email' ? row.email_key : row.phone;
    const challengeId = kind === 'email' ? row.email_challenge_id : row.phone_challenge_id;
    if (!value || !key) return fail('no_contact', `Add an emergency ${kindName(kind)} first.`, kind);
    if ((kind === 'email' ? row.email_verified_at : row.phone_verified_at) !== null) return { ok: true, status: 'unchanged' };
    if (!challengeId) return fail('no_code', 'No code was sent for this contact yet. Send a code first.', 'code');
    try {
      return await this.dataSource.transaction(async (m: EntityManager) => {
        const result: CodeVerify = await this.codes.verify(
          {
            challengeId,
            purpose: 'verification',
            subject: { type: 'user', id: user.id },
            flowId: contactBinding(kind, key),
            code: typeof code === 'string' ? code.slice(0, 32) : '',
            context: this.otpContext(user, meta),
          },
          m,
        );
        // A wrong code commits too: its attempt must count.
        if (!result.ok) return { ok: false, error: result.error, field: 'code' as const };
        const now = this.clock.now();
        const [updated] = await markContactChannelVerified(m, kind, [user.id, key, challengeId, now]);
        if (updated.length === 0) {
          throw new Rollback(fail('contact_changed', 'This contact was changed in the meantime. Send a new code.', 'code'));
        }
        await this.record(m, user, actor, meta, `emergency_contact.${kind}_verified`, {
          [kind]: maskDestination(kind === 'email' ? 'email' : 'sms', value),
          verified_by: kind === 'email' ? 'email' : updated[0]!.channel,
          challenge_id: challengeId,
        });
        return { ok: true, status: 'verified' as const };
      });
    } catch (error) {
      if (error instanceof Rollback) return error.outcome;
      throw error;
    }
  }

  /**
   * "Remind me later": postpones the question for this session, at most `reminderLimit`
   * times per user (counted atomically); after that the user must verify to continue.
   */
  async remindLater(actor: ContactActor, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await this.requireUser(actor.userId);
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

  private async sendCode(
    actor: ContactActor,
    kind: EmergencyContactKind,
    channel: unknown,
    meta: RequestMeta,
    status: 'saved' | 'code_sent',
  ): Promise<ContactOutcome> {
    const user = await this.requireUser(actor.userId);
    const row = await this.row(user.id);
    const value = kind === 'email' ? row.email : row.phone;
    const key = kind === 'email' ? row.email_key : row.phone;
    if (!value || !key) return fail('no_contact', `Add an emergency ${kindName(kind)} first.`, kind);
    if ((kind === 'email' ? row.email_verified_at : row.phone_verified_at) !== null) {
      return { ok: true, status: 'unchanged' };
    }
    let chosen: Channel = 'email';
    if (kind === 'phone') {
      const allowed = phoneChannels(row.phone_type!);
      const wanted = channel === undefined || channel === null || channel === '' ? (row.phone_code_channel ?? allowed[0]!) : channel;
      if (wanted !== 'sms' && wanted !== 'voice') return fail('invalid_channel', 'Choose a text message or a voice call.', 'channel');
      const refusal = channelRefusal(row.phone_type!, wanted);
      if (refusal) return fail('sms_not_available', refusal, 'channel');
      chosen = wanted;
    }
    const sent = await this.codes.send(
      {
        purpose: 'verification',
        subject: { type: 'user', id: user.id },
        flowId: contactBinding(kind, key),
        channel: chosen,
        destination: value,
        variant: 'emergency_contact',
        context: this.otpContext(user, meta),
      },
      async ({ challengeId, messageId, expiresAt }) => {
        await recordContactChallenge(
          this.dataSource,
          kind,
          kind === 'email' ? [user.id, key, challengeId, messageId, expiresAt] : [user.id, key, challengeId, messageId, expiresAt, chosen],
        );
      },
      { refuseUndeliverable: true },
    );
    // The contact stays saved (unverified); the page says why no code went out.
    if (!sent.ok) return { ok: status === 'saved', status, error: sent.error };
    return { ok: true, status, ...sent.delivered };
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
    await this.audit.record(
      {
        type,
        actor: { type: 'user', id: user.id },
        subject: { type: 'user', id: user.id },
        organizationId: user.organizationId,
        ip: meta.ip ?? null,
        userAgent: meta.userAgent ?? null,
        requestId: meta.requestId ?? null,
        details: {
          ...details,
          via: actor.clientId ? 'access_token' : 'session',
          ...(actor.sessionId ? { session_id: actor.sessionId } : {}),
          ...(actor.clientId ? { client_id: actor.clientId } : {}),
        },
      },
      m,
    );
  }

  private otpContext(user: UserRecord, meta: RequestMeta) {
    return {
      actor: { type: 'user' as const, id: user.id },
      organizationId: user.organizationId,
      ip: meta.ip ?? null,
      userAgent: meta.userAgent ?? null,
      requestId: meta.requestId ?? null,
    };
  }

  private async lockRow(m: EntityManager, userId: string): Promise<ContactRow> {
    const now = this.clock.now();
    await ensureContactRow(m, [userId, now]);
    const rows = await contactRowForUpdate(m, [userId]);
    return rows[0]!;
  }

  private async row(userId: string): Promise<ContactRow> {
    const rows = await contactRowOf(this.dataSource, [userId]);
    return rows[0] ?? EMPTY_ROW;
  }

  /** The policy columns this feature added to `organization_policies`. */
  private async policy(organizationId: string): Promise<ContactPolicy> {
    const rows = await contactPolicyOfOrganization(this.dataSource, [organizationId]);
    return policyOf(rows[0]);
  }

  private async delivery(messageId: string): Promise<Delivery> {
    try {
      return await this.codes.status(messageId);
    } catch (error) {
      if (error instanceof DomainError) return 'failed';
      throw error;
    }
  }

  private async requireUser(userId: string): Promise<UserRecord> {
    const user = await this.directory.user(userId);
    if (!user || user.status !== 'active') throw sessionEnded();
    return user;
  }
}

function kindName(kind: EmergencyContactKind): string {
  return kind === 'email' ? 'email address' : 'phone number';
}
