import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput, auditMeta } from '#libs/audit';
import { SECRETS, type Secrets } from '#libs/config';
import { Clock, DomainError, Duration, isUuid } from '#libs/core';
import { Directory } from '#libs/identity';
import { OutboxService, messageLocaleFor, transactionCodeValidity, transactionCodeMessage } from '#libs/notifications';
// Not the lib's index: nothing here needs oidc-provider itself.
import { ClientRegistry } from '#libs/oidc-store';
import { codeHmac, maskDestination, normalizeCode } from '#libs/otp';
import { ThrottleService, type ThrottleRule } from '#libs/throttle';
import { deriveCode, displayKey } from './derived-code.js';
import { checkReference, parseIssueRequest } from './request.js';
import {
  codeToCancel,
  insertTransactionCode,
  lockKeyHashes,
  markCodeCancelled,
  openCodeForReference,
  openCodesForVerifier,
  openCodesOfUser,
  openCodesWithOrganization,
  takeAdvisoryLock,
  tryTransactionCode,
} from './transaction-codes.queries.js';

/** Who asked, from where: for the audit entries. */
export interface TransactionCodeContext {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

export interface IssuedTransactionCode {
  id: string;
  reference: string;
  expiresAt: Date;
}

/** One of a user's open codes, as the account page shows it. */
export interface VisibleTransactionCode {
  id: string;
  serviceName: string;
  description: string;
  reference: string;
  code: string;
  expiresAt: Date;
  /** "until the end of Sunday 29 March 2026 (Europe/Rome time)". */
  validity: string;
}

/** Wrong guesses allowed per code (issue 7). */
export const TRANSACTION_CODE_ATTEMPTS = 5;
/** Open codes one user may hold at once (every issuer together): keeps 6-digit codes unique and the page readable. */
export const MAX_OPEN_CODES_PER_USER = 50;

/**
 * Failed verifications per verifier client: a verifier that keeps guessing (say, across many
 * references) is slowed down, whatever the per-code limit. Counted in PostgreSQL (libs/throttle).
 */
export const VERIFIER_RULE: ThrottleRule = {
  freeFailures: 50,
  baseDelay: Duration.ofSeconds(1),
  maxDelay: Duration.ofMinutes(5),
  window: Duration.ofHours(1),
};

/** Statuses of this module's DomainError codes, for the ProblemFilter. */
export const TRANSACTION_CODE_STATUS: Record<string, number> = {
  subject_unavailable: 422,
  transaction_code_exists: 409,
  too_many_transaction_codes: 409,
  transaction_code_not_found: 404,
  transaction_code_used: 409,
  verification_throttled: 429,
};

/** Advisory-lock key space of the issue path (two-int form, like the OTP engine's). */
const LOCK_SPACE = 0x54584e; // "TXN"

/** A code one verification tried, with its user's organization (for the audit entry). */
export interface TriedRow {
  id: string;
  user_id: string;
  organization_id: string | null;
  issuer_client_id: string;
  attempts: number;
  max_attempts: number;
}

export interface OpenRow {
  id: string;
  issuer_client_id: string;
  reference: string;
  description: string;
  code_nonce: Buffer;
  expires_at: Date;
  valid_until_end_of: string | null;
  time_zone: string | null;
}

/**
 * Transaction-bound one-time codes (issue 7, part 2): a service issues a code for one of its
 * users and a reference of its own; Gatehouse emails it to the user (and shows it on the
 * account page); the service, or a verifier it allowed, checks it once.
 */
@Injectable()
export class TransactionCodeService {
  private readonly logger = new Logger('TransactionCodes');
  private readonly displayKey: Buffer;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly audit: AuditService,
    private readonly outbox: OutboxService,
    private readonly directory: Directory,
    private readonly clients: ClientRegistry,
    private readonly throttle: ThrottleService,
  ) {
    this.displayKey = displayKey(secrets.otp);
  }

  /**
   * Issues a code for `body.sub` on behalf of `issuer` and queues its email, in one
   * transaction. Throws `invalid_request` (bad body), `subject_unavailable` (no active user
   * with a verified email under that subject: one answer for all three), or
   * `transaction_code_exists` (this issuer has an open code for the reference: cancel it
   * first; the problem carries its id and expiry).
   */
  async issue(issuer: string, body: unknown, ctx: TransactionCodeContext): Promise<IssuedTransactionCode> {
    const now = this.clock.now();
    const request = parseIssueRequest(body, now);
    const user = await this.directory.user(request.sub);
    if (!user || user.status !== 'active' || !user.emailVerifiedAt) {
      throw new DomainError('subject_unavailable', 'No code can be issued for this subject.');
    }
    const service = await this.clients.metadata(issuer);
    if (!service) throw new DomainError('invalid_token', 'The issuing client is not registered.');

    const issued = await this.dataSource.transaction(async (m) => {
      await this.lock(m, [`user:${user.id}`, `reference:${issuer}:${request.reference}`]);
      const existing = await openCodeForReference(m, [issuer, request.reference, now]);
      if (existing[0]) {
        throw new DomainError('transaction_code_exists', 'An open code exists for this reference. Cancel it before issuing a new one.', {
          extensions: { id: existing[0].id, expires_at: existing[0].expires_at.toISOString() },
        });
      }
      const taken = await openCodesOfUser(m, [user.id, now]);
      if (taken.length >= MAX_OPEN_CODES_PER_USER) {
        throw new DomainError('too_many_transaction_codes', 'This user has too many open codes. Cancel some, or wait until they expire.');
      }
      const inUse = new Set(taken.map((r) => deriveCode(this.displayKey, r.id, r.code_nonce)));
      let id: string;
      let nonce: Buffer;
      let code: string;
      do {
        id = randomUUID();
        nonce = randomBytes(16);
        code = deriveCode(this.displayKey, id, nonce);
      } while (inUse.has(code));

      const message = transactionCodeMessage({
        code,
        description: request.description,
        reference: request.reference,
        serviceName: service.client_name,
        expiresAt: request.expiresAt,
        ...(request.endOfDay ? { endOfDay: request.endOfDay } : {}),
        locale: await messageLocaleFor(m, { type: 'user', id: user.id }),
      });
      const messageId = await this.outbox.enqueue(m, {
        channel: 'email',
        to: user.email,
        purpose: 'otp.transaction',
        locale: message.locale,
        subject: message.subject!,
        text: message.text,
      });
      await insertTransactionCode(m, [
        id,
        user.id,
        issuer,
        request.reference,
        request.description,
        nonce,
        codeHmac(this.secrets.otp, id, code),
        TRANSACTION_CODE_ATTEMPTS,
        request.endOfDay?.date ?? null,
        request.endOfDay?.timeZone ?? null,
        messageId,
        now,
        request.expiresAt,
      ]);
      await this.audit.record(
        this.event('transaction_code.issued', { type: 'client', id: issuer }, user.id, user.organizationId, ctx, {
          transaction_code_id: id,
          reference: request.reference,
          expires_at: request.expiresAt.toISOString(),
          ...(request.endOfDay ? { valid_until_end_of: request.endOfDay.date, time_zone: request.endOfDay.timeZone } : {}),
          channel: 'email',
          destination: maskDestination('email', user.email),
          message_id: messageId,
        }),
        m,
      );
      return { id, messageId };
    });
    // After the commit: send now rather than at the worker's next poll (it retries either way).
    this.outbox.deliverNow(issued.messageId).catch((error: unknown) => {
      this.logger.warn(`transaction code message ${issued.messageId}: ${error instanceof Error ? error.message : String(error)}`);
    });
    return { id: issued.id, reference: request.reference, expiresAt: request.expiresAt };
  }

  /**
   * Checks `body.code` against the open codes with `body.reference` that `verifier` may see:
   * its own, and those of issuers that allowed it (client:allow-verify). A match consumes the
   * code (single use). Each try uses one of the code's 5 attempts in the same UPDATE that
   * would consume it, so parallel guesses cannot exceed 5; after that the code is locked.
   * Returns false for a wrong code, a locked, used, expired or cancelled one, an unknown
   * reference and a reference the verifier may not see alike. Throws `invalid_request` for a
   * malformed reference and `verification_throttled` (details.retryAfterSeconds) when the
   * verifier failed too often.
   */
  async verify(verifier: string, body: unknown, ctx: TransactionCodeContext): Promise<boolean> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new DomainError('invalid_request', 'The body must be a JSON object.', { extensions: { field: 'body' } });
    }
    const b = body as Record<string, unknown>;
    const reference = checkReference(b.reference);
    if (typeof b.code !== 'string')
      throw new DomainError('invalid_request', 'code must be a string of 6 digits.', { extensions: { field: 'code' } });
    const throttleKey = `txcode:verifier:${verifier}`;
    // Counted before it is evaluated (parallel verifications never exceed the rule); given back when the code matches.
    const reserved = await this.throttle.reserve([[throttleKey, VERIFIER_RULE]]);
    if (!reserved.ok) {
      throw new DomainError('verification_throttled', 'Too many failed verifications. Please try again later.', {
        retryAfterSeconds: reserved.wait,
      });
    }
    const now = this.clock.now();
    const code = normalizeCode(b.code);
    const candidates = code === null ? [] : await openCodesForVerifier(this.dataSource, [reference, verifier, now]);
    const verifierActor = { type: 'client' as const, id: verifier };
    // An unknown reference costs the same statement as a wrong code (no timing difference to read).
    const tries = code === null ? [] : candidates.length ? candidates.map((c) => c.id) : [randomUUID()];
    const misses: TriedRow[] = [];
    for (const id of tries) {
      // With the user's organization, for the audit entry.
      const rows = await tryTransactionCode(this.dataSource, [id, now, codeHmac(this.secrets.otp, id, code!), verifier]);
      const row = rows[0];
      if (!row) continue;
      if (row.matched) {
        await this.audit.record(
          this.event('transaction_code.verified', verifierActor, row.user_id, row.organization_id, ctx, {
            transaction_code_id: row.id,
            reference,
            issuer_client_id: row.issuer_client_id,
            attempts: row.attempts,
          }),
        );
        await this.throttle.succeeded(reserved, []);
        return true;
      }
      misses.push(row);
    }
    if (misses.length === 0) {
      await this.audit.record(
        this.event('transaction_code.verification_failed', verifierActor, null, null, ctx, {
          reference,
          reason: code === null ? 'malformed' : 'no_open_code_visible',
        }),
      );
    }
    for (const miss of misses) {
      await this.audit.record(
        this.event('transaction_code.verification_failed', verifierActor, miss.user_id, miss.organization_id, ctx, {
          transaction_code_id: miss.id,
          reference,
          issuer_client_id: miss.issuer_client_id,
          reason: 'wrong_code',
          attempts: miss.attempts,
          locked: miss.attempts >= miss.max_attempts,
        }),
      );
    }
    return false;
  }

  /**
   * Cancels a code of `issuer`'s. Another client's code, or an unknown id, is
   * `transaction_code_not_found`; a used code is `transaction_code_used`; cancelling again is
   * a no-op. An expired or locked code can be cancelled (its reference is free already).
   * Its email, if still waiting in the outbox, is withdrawn in the same transaction, so the
   * user never receives a code that was cancelled; one already being sent (or sent) is left
   * alone. The audit entry says which (`message_withdrawn`).
   */
  async cancel(issuer: string, id: string, ctx: TransactionCodeContext): Promise<void> {
    const notFound = () => new DomainError('transaction_code_not_found', 'No such transaction code.');
    if (!isUuid(id)) throw notFound();
    const now = this.clock.now();
    await this.dataSource.transaction(async (m) => {
      const rows = await codeToCancel(m, [id, issuer]);
      const row = rows[0];
      if (!row) throw notFound();
      if (row.consumed_at) throw new DomainError('transaction_code_used', 'The code was used already; it can no longer be cancelled.');
      if (row.cancelled_at) return;
      await markCodeCancelled(m, [id, now]);
      const withdrawn = row.message_id ? await this.outbox.withdraw(m, row.message_id) : false;
      await this.audit.record(
        this.event('transaction_code.cancelled', { type: 'client', id: issuer }, row.user_id, row.organization_id, ctx, {
          transaction_code_id: id,
          reference: row.reference,
          message_id: row.message_id,
          message_withdrawn: withdrawn,
        }),
        m,
      );
    });
  }

  /** The user's open codes, newest first, with the codes themselves; showing them is audited. */
  async openCodesOf(userId: string, ctx: TransactionCodeContext): Promise<VisibleTransactionCode[]> {
    const now = this.clock.now();
    const rows = await openCodesWithOrganization(this.dataSource, [userId, now]);
    if (rows.length === 0) return [];
    const names = new Map<string, string>();
    for (const clientId of new Set(rows.map((r) => r.issuer_client_id))) {
      names.set(clientId, (await this.clients.metadata(clientId))?.client_name ?? 'A service');
    }
    const visible = rows.map((r) => ({
      id: r.id,
      serviceName: names.get(r.issuer_client_id)!,
      description: r.description,
      reference: r.reference,
      code: deriveCode(this.displayKey, r.id, r.code_nonce),
      expiresAt: r.expires_at,
      validity: transactionCodeValidity(
        r.expires_at,
        r.valid_until_end_of && r.time_zone ? { date: r.valid_until_end_of, timeZone: r.time_zone } : undefined,
      ),
    }));
    await this.audit.record(
      this.event('transaction_code.viewed', { type: 'user', id: userId }, userId, rows[0]!.organization_id, ctx, {
        transaction_code_ids: visible.map((v) => v.id),
      }),
    );
    return visible;
  }

  private async lock(m: EntityManager, names: string[]): Promise<void> {
    // In hash order, so two requests never wait on each other crosswise.
    const keys = await lockKeyHashes(m, [names]);
    for (const { k } of keys) await takeAdvisoryLock(m, [LOCK_SPACE, k]);
  }

  private event(
    type: string,
    actor: AuditEventInput['actor'],
    userId: string | null,
    organizationId: string | null,
    ctx: TransactionCodeContext,
    details: Record<string, unknown>,
  ): AuditEventInput {
    return {
      type,
      actor,
      subject: userId ? { type: 'user', id: userId } : null,
      organizationId,
      ...auditMeta(ctx),
      details,
    };
  }
}
