import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '#libs/audit';
import { Clock, DomainError, type Channel } from '#libs/core';
import { Directory } from '#libs/identity';
import { CodeStepService, maskDestination, type CodeVerify, type Delivery } from '#libs/otp';
import type { RequestMeta } from '#libs/sessions';
import { channelRefusal, phoneChannels } from './phone.js';
import type { EmergencyContactKind } from './policy.js';
import { markContactChannelVerified, recordContactChallenge } from './emergency-contacts.queries.js';
import {
  Rollback,
  activeUser,
  contactBinding,
  contactEvent,
  contactOf,
  currentRow,
  fail,
  kindName,
  otpContext,
  type ContactActor,
  type ContactOutcome,
} from './emergency-contacts.model.js';

/**
 * The proof that an emergency contact reaches its owner: a one-time code (purpose
 * `verification`, bound to the contact's value, 10 minutes, 5 attempts, single use) sent
 * through the outbox with a link-free message, and its check, which marks the contact
 * verified in the same transaction as the code is consumed.
 */
@Injectable()
export class ContactVerificationService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly directory: Directory,
    private readonly codes: CodeStepService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Sends a code to the contact as it is now (for a phone by `channel`, else the channel of
   * the last code, else the first allowed one). `status` is what the answer reports: `saved`
   * when the contact was just set (it stays saved, unverified, if no code could go out).
   */
  async send(
    actor: ContactActor,
    kind: EmergencyContactKind,
    channel: unknown,
    meta: RequestMeta,
    status: 'saved' | 'code_sent',
  ): Promise<ContactOutcome> {
    const user = await activeUser(this.directory, actor.userId);
    const row = await currentRow(this.dataSource, user.id);
    const { value, key, verifiedAt } = contactOf(row, kind);
    if (!value || !key) return fail('no_contact', `Add an emergency ${kindName(kind)} first.`, kind);
    if (verifiedAt !== null) return { ok: true, status: 'unchanged' };
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
        context: otpContext(user, meta),
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
   * Checks a code for the contact as it is now. A wrong code uses one of its 5 attempts
   * (counted atomically by the OTP engine, even under parallel guesses); the right one is
   * consumed, and the contact's verification time is set in the same transaction.
   */
  async verify(actor: ContactActor, kind: EmergencyContactKind, code: unknown, meta: RequestMeta): Promise<ContactOutcome> {
    const user = await activeUser(this.directory, actor.userId);
    const { value, key, challengeId, verifiedAt } = contactOf(await currentRow(this.dataSource, user.id), kind);
    if (!value || !key) return fail('no_contact', `Add an emergency ${kindName(kind)} first.`, kind);
    if (verifiedAt !== null) return { ok: true, status: 'unchanged' };
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
            context: otpContext(user, meta),
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
        const details = {
          [kind]: maskDestination(kind === 'email' ? 'email' : 'sms', value),
          verified_by: kind === 'email' ? 'email' : updated[0]!.channel,
          challenge_id: challengeId,
        };
        await this.audit.record(contactEvent(user, actor, meta, `emergency_contact.${kind}_verified`, details), m);
        return { ok: true, status: 'verified' as const };
      });
    } catch (error) {
      if (error instanceof Rollback) return error.outcome;
      throw error;
    }
  }

  /** How the message of a code fares (`failed` for a message the outbox does not know). */
  async delivery(messageId: string): Promise<Delivery> {
    try {
      return await this.codes.status(messageId);
    } catch (error) {
      if (error instanceof DomainError) return 'failed';
      throw error;
    }
  }
}
