import { Inject, Injectable, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, type AuditEventInput } from '#libs/audit';
import { SECRETS, type Secrets } from '#libs/config';
import { Clock, DomainError, isUuidAnyCase, type Channel, type Duration } from '#libs/core';
import type { BatchPart, WriteBatch } from '#libs/database';
import {
  addUseChallengePart,
  challengeById,
  consumeChallenge,
  countAttempt,
  countAttemptIn,
  type CountedChallenge,
  insertChallenge,
  lockIssueKeys,
  recentIssues,
  supersedeOpenChallenges,
  type ChallengeRow,
} from './otp.queries.js';
import { codeHmac, generateCode, hmacMatches, normalizeCode } from './code.js';
import { maskDestination } from './mask.js';
import {
  DEFAULT_OTP_LIMITS,
  OTP_CHANNELS,
  OTP_DEFAULT_MAX_ATTEMPTS,
  OTP_DEFAULT_TTL,
  OTP_PURPOSES,
  OTP_SUBJECT_TYPES,
  OtpMessageQueue,
  type IssueOtp,
  type IssuedOtp,
  type OtpAuditContext,
  type OtpBinding,
  type OtpFailureReason,
  type OtpLimits,
  type OtpMessageVariant,
  type OtpPurpose,
  type OtpSubject,
  type VerifyOtp,
  type VerifyOtpResult,
} from './types.js';

/**
 * A right code, counted but not yet used: what `check` hands to `consumeIn`. Opaque to
 * callers; it names the challenge and what it is bound to.
 */
export interface OtpClaim {
  readonly challengeId: string;
  readonly binding: OtpBinding;
  readonly channel: Channel;
  readonly attempts: number;
  readonly context: OtpAuditContext | undefined;
}

export type OtpCheck = { ok: true; claim: OtpClaim } | Exclude<VerifyOtpResult, { ok: true }>;

/** Nest token for `Partial<OtpLimits>`; unset means DEFAULT_OTP_LIMITS. */
export const OTP_LIMITS = Symbol('OTP_LIMITS');

/** Advisory-lock key space of the issue path (the two-int form; it does not overlap single-bigint locks). */

const E164 = /^\+[1-9]\d{6,14}$/u;
const EMAIL = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u;

interface IssueRequest {
  purpose: OtpPurpose;
  subject: OtpSubject;
  flowId: string;
  channel: Channel;
  /** Where the message goes: the trimmed address, or the compact E.164 number. */
  sendTo: string;
  /** What is stored and counted: lower-cased address or E.164 number. */
  destinationKey: string;
  locale: string;
  description?: string;
  variant?: OtpMessageVariant;
  ttl: Duration;
  maxAttempts: number;
  context: OtpAuditContext | undefined;
}

type OtpFailure = Exclude<VerifyOtpResult, { ok: true }>;

type Diagnosis = { state: 'active'; attemptsLeft: number } | { state: 'closed'; reason: Exclude<OtpFailureReason, 'invalid'> };

const isShortString = (value: unknown, max = 256): value is string => typeof value === 'string' && value.length > 0 && value.length <= max;

function badRequest(message: string): DomainError {
  return new DomainError('invalid_request', message);
}

/**
 * One-time codes for every purpose (login, enrollment, step-up, recovery, verification,
 * transaction). A code is 6 CSPRNG digits, stored only as HMAC-SHA256(Secrets.otp,
 * `${challengeId}:${code}`), bound to its purpose, subject and flow, valid 10 minutes,
 * single use, with 5 attempts counted atomically in PostgreSQL. Issuing a new code for the
 * same (purpose, subject, flow) supersedes the previous one; resends have a cooldown and
 * hourly caps per subject and per destination. Every issue and verification is audited
 * (masked destination; never the code or its HMAC).
 */
@Injectable()
export class OtpService {
  private readonly limits: OtpLimits;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    @Inject(SECRETS) private readonly secrets: Secrets,
    private readonly audit: AuditService,
    private readonly queue: OtpMessageQueue,
    @Optional() @Inject(OTP_LIMITS) limits?: Partial<OtpLimits>,
  ) {
    this.limits = { ...DEFAULT_OTP_LIMITS, ...(limits ?? {}) };
    for (const cap of [this.limits.perSubject, this.limits.perDestination]) {
      if (!Number.isInteger(cap) || cap < 1) throw new RangeError(`OTP hourly caps must be positive integers, got ${cap}`);
    }
  }

  /**
   * Sends a new code: enforces the cooldown and hourly caps, supersedes the previous active
   * code of the same (purpose, subject, flow), stores the challenge and enqueues its message,
   * all in one transaction: the caller's when `manager` is in one, otherwise its own.
   * Throws DomainError `otp_cooldown` or `otp_rate_limited` (details.retryAfterSeconds), or
   * `invalid_request` for a malformed request.
   */
  async issue(input: IssueOtp, manager?: EntityManager): Promise<IssuedOtp> {
    const request = this.checkIssue(input);
    return this.inTransaction(manager, (m) => this.issueIn(m, request));
  }

  /**
   * Checks a code. A challenge that does not match the given purpose, subject and flow is
   * `not_found`, and its attempts are left alone. A well-formed wrong code uses one attempt;
   * malformed input (not 6 digits once white space and hyphens are dropped) is `invalid`
   * without using one, and `attemptsLeft` stays as it was.
   *
   * Runs in one transaction (attempt, consumption and audit event). Pass `manager` only to
   * commit the consumption together with your own change: a rollback of the caller's
   * transaction also undoes the counted attempt.
   */
  async verify(input: VerifyOtp, manager?: EntityManager): Promise<VerifyOtpResult> {
    return this.inTransaction(manager, (m) => this.verifyIn(m, input));
  }

  /**
   * The first half of `verify`, for callers that commit the code's use together with their
   * own writes in one statement (sign-in: the session): counts one attempt atomically (one
   * statement, committed at once, so parallel guesses cannot exceed the limit) and compares
   * the code. A wrong, malformed, expired, used or unbound code fails exactly as in `verify`
   * (same result, same `otp.failed` event). A right one is returned as a claim, NOT yet used:
   * pass it to `consumeIn`, which marks it used, single-use under concurrency, with its
   * `otp.verified` event.
   */
  async check(input: VerifyOtp): Promise<OtpCheck> {
    const m = this.dataSource.manager;
    const attempt = await this.attempt(m, input, this.clock.now(), (values) => countAttempt(this.dataSource, values));
    if (!attempt.ok) return attempt;
    const { live, subject } = attempt;
    const binding: OtpBinding = { challengeId: live.id, purpose: input.purpose, subject, flowId: input.flowId };
    return { ok: true, claim: { challengeId: live.id, binding, channel: live.channel, attempts: live.attempts, context: input.context } };
  }

  /**
   * Adds the use of a checked code to a batch, with its `otp.verified` event (returned, for the
   * caller to append with the batch's other events): the challenge is marked used only if it
   * is still unused, not superseded and not expired, so of two concurrent uses one wins. When
   * `result.ran(part)` is false, call `claimLost` for the answer.
   */
  consumeIn(batch: WriteBatch, claim: OtpClaim): { part: BatchPart; event: AuditEventInput } {
    const now = this.clock.now();
    const b = claim.binding;
    const part = addUseChallengePart(batch, claim.challengeId, b, now);
    return { part, event: this.verifiedEvent(b, claim.channel, claim.challengeId, claim.attempts, claim.context) };
  }

  /** Why a checked code could not be used after all (used meanwhile, superseded, expired): the failure, recorded like `verify`'s. */
  async claimLost(claim: OtpClaim): Promise<OtpFailure> {
    const m = this.dataSource.manager;
    const row = await this.load(m, claim.challengeId);
    const d = this.diagnose(row, claim.binding, this.clock.now());
    // Still active would mean it changed between the two statements; it was used meanwhile.
    const result = d.state === 'active' ? { reason: 'used' as const, attemptsLeft: 0 } : { reason: d.reason, attemptsLeft: 0 };
    const input = { ...claim.binding, code: '', context: claim.context };
    return this.fail(m, input, claim.binding.subject, result, { channel: claim.channel, attempts: row?.attempts ?? claim.attempts });
  }

  /**
   * A code that used no attempt: malformed input (not 6 digits), or a challenge the counting
   * statement did not match (closed, or not bound as claimed). Says what state it is in; a
   * live one here (malformed input, or changed between two statements) is a wrong code.
   */
  private async unattempted(m: EntityManager, input: VerifyOtp, subject: OtpSubject, now: Date, malformed: boolean): Promise<OtpFailure> {
    const row = await this.load(m, input.challengeId);
    const d = this.diagnose(row, input, now);
    const result =
      d.state === 'active' ? { reason: 'invalid' as const, attemptsLeft: d.attemptsLeft } : { reason: d.reason, attemptsLeft: 0 };
    const extra: Record<string, unknown> = row && result.reason !== 'not_found' ? { channel: row.channel, attempts: row.attempts } : {};
    if (malformed) extra.malformed = true;
    return this.fail(m, input, subject, result, extra);
  }

  private verifiedEvent(
    binding: OtpBinding,
    channel: Channel,
    challengeId: string,
    attempts: number,
    context: OtpAuditContext | undefined,
  ): AuditEventInput {
    return this.event(
      'otp.verified',
      binding.subject,
      context,
      { type: 'anonymous' },
      {
        purpose: binding.purpose,
        channel,
        challenge_id: challengeId,
        flow_id: binding.flowId,
        attempts,
      },
    );
  }

  private async inTransaction<T>(manager: EntityManager | undefined, work: (m: EntityManager) => Promise<T>): Promise<T> {
    if (manager?.queryRunner?.isTransactionActive) return work(manager);
    return (manager ?? this.dataSource.manager).transaction(work);
  }

  private checkIssue(input: IssueOtp): IssueRequest {
    if (!OTP_PURPOSES.includes(input.purpose)) throw badRequest('Unknown one-time code purpose');
    if (!OTP_CHANNELS.includes(input.channel)) throw badRequest('Unknown one-time code channel');
    if (!OTP_SUBJECT_TYPES.includes(input.subject?.type) || !isShortString(input.subject.id))
      throw badRequest('Invalid one-time code subject');
    if (!isShortString(input.flowId)) throw badRequest('Invalid flow id');
    if (typeof input.destination !== 'string' || input.destination.length > 320) throw badRequest('Invalid destination');
    let sendTo: string;
    let destinationKey: string;
    if (input.channel === 'email') {
      sendTo = input.destination.trim();
      if (!EMAIL.test(sendTo)) throw badRequest('The destination is not an email address');
      destinationKey = sendTo.toLowerCase();
    } else {
      sendTo = input.destination.replace(/[\s\-().]/gu, '');
      if (!E164.test(sendTo)) throw badRequest('The destination is not a phone number in E.164 format');
      destinationKey = sendTo;
    }
    const ttl = input.ttl ?? OTP_DEFAULT_TTL;
    if (ttl.milliseconds < 1000) throw badRequest('A one-time code must be valid for at least one second');
    const maxAttempts = input.maxAttempts ?? OTP_DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10) throw badRequest('maxAttempts must be between 1 and 10');
    const request: IssueRequest = {
      purpose: input.purpose,
      subject: { type: input.subject.type, id: input.subject.id },
      flowId: input.flowId,
      channel: input.channel,
      sendTo,
      destinationKey,
      locale: input.locale ?? 'en',
      ttl,
      maxAttempts,
      context: input.context,
    };
    if (input.description !== undefined) request.description = input.description;
    if (input.variant !== undefined) request.variant = input.variant;
    return request;
  }

  private async issueIn(m: EntityManager, r: IssueRequest): Promise<IssuedOtp> {
    // Serialize issues per subject and per destination across nodes, so two concurrent
    // requests cannot both pass the caps. Locks are taken in hash order (no deadlock).
    await lockIssueKeys(m, [`otp:subject:${r.subject.type}:${r.subject.id}`, `otp:destination:${r.destinationKey}`]);

    const now = this.clock.now();
    await this.enforceLimits(m, r, now);

    await supersedeOpenChallenges(m, [r.purpose, r.subject.type, r.subject.id, r.flowId, now]);

    const challengeId = randomUUID();
    const code = generateCode();
    const expiresAt = r.ttl.after(now);
    await insertChallenge(m, [
      challengeId,
      r.purpose,
      r.subject.type,
      r.subject.id,
      r.flowId,
      r.channel,
      r.destinationKey,
      codeHmac(this.secrets.otp, challengeId, code),
      r.maxAttempts,
      now,
      expiresAt,
    ]);

    const messageId = await this.queue.enqueueCode(m, {
      challengeId,
      subject: r.subject,
      purpose: r.purpose,
      channel: r.channel,
      destination: r.sendTo,
      code,
      validityMinutes: Math.ceil(r.ttl.milliseconds / 60_000),
      locale: r.locale,
      ...(r.description !== undefined ? { description: r.description } : {}),
      ...(r.variant !== undefined ? { variant: r.variant } : {}),
    });

    await this.audit.record(
      this.event(
        'otp.issued',
        r.subject,
        r.context,
        { type: 'system' },
        {
          purpose: r.purpose,
          channel: r.channel,
          destination: maskDestination(r.channel, r.destinationKey),
          challenge_id: challengeId,
          flow_id: r.flowId,
          message_id: messageId,
          expires_at: expiresAt.toISOString(),
          max_attempts: r.maxAttempts,
        },
      ),
      m,
    );
    return { challengeId, messageId, expiresAt };
  }

  private async enforceLimits(m: EntityManager, r: IssueRequest, now: Date): Promise<void> {
    const since = this.limits.window.before(now);
    const { bySubject, byDestination, last } = await recentIssues(m, r, since);
    const secondsUntil = (at: Date) => Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));
    // With n codes in the window and a cap of c, a slot frees when the (n - c + 1)-th oldest leaves it.
    const capWait = (times: Array<{ created_at: Date }>, cap: number): number =>
      times.length < cap ? 0 : secondsUntil(this.limits.window.after(times[times.length - cap]!.created_at));
    const lastAt = last[0]?.last ?? null;
    const nextAllowed = lastAt ? this.limits.resendCooldown.after(lastAt) : null;
    const cooldown = nextAllowed && nextAllowed.getTime() > now.getTime() ? secondsUntil(nextAllowed) : 0;

    const subjectWait = capWait(bySubject, this.limits.perSubject);
    const destinationWait = capWait(byDestination, this.limits.perDestination);
    if (subjectWait > 0 || destinationWait > 0) {
      const retryAfterSeconds = Math.max(subjectWait, destinationWait, cooldown);
      throw new DomainError('otp_rate_limited', 'Too many codes were requested. Please try again later.', {
        retryAfterSeconds,
        limit: subjectWait >= destinationWait ? 'subject' : 'destination',
      });
    }
    if (cooldown > 0) {
      throw new DomainError('otp_cooldown', `Please wait ${cooldown} seconds before asking for a new code.`, {
        retryAfterSeconds: cooldown,
      });
    }
  }

  private async verifyIn(m: EntityManager, input: VerifyOtp): Promise<VerifyOtpResult> {
    const now = this.clock.now();
    const attempt = await this.attempt(m, input, now, (values) => countAttemptIn(m, values));
    if (!attempt.ok) return attempt;
    const { live, subject } = attempt;

    if (!(await consumeChallenge(m, live.id, now))) {
      return this.fail(m, input, subject, { reason: 'used', attemptsLeft: 0 }, { channel: live.channel, attempts: live.attempts });
    }
    const binding: OtpBinding = { challengeId: live.id, purpose: input.purpose, subject, flowId: input.flowId };
    await this.audit.record(this.verifiedEvent(binding, live.channel, live.id, live.attempts, input.context), m);
    return { ok: true, challengeId: live.id };
  }

  /**
   * What `check` and `verify` share: refuses a malformed binding or code, counts one attempt
   * with `count` (one atomic step: only while the challenge is live and bound as claimed) and
   * compares the code. A failure is recorded (`otp.failed`) and returned; the right code
   * answers the counted challenge, not yet used.
   */
  private async attempt(
    m: EntityManager,
    input: VerifyOtp,
    now: Date,
    count: (values: unknown[]) => Promise<CountedChallenge | undefined>,
  ): Promise<OtpFailure | { ok: true; live: CountedChallenge; subject: OtpSubject }> {
    const subject = this.wellFormedSubject(input.subject);
    if (!this.wellFormedBinding(input) || !subject) {
      return this.fail(m, input, subject, { reason: 'not_found', attemptsLeft: 0 }, {});
    }
    const code = normalizeCode(input.code);
    if (code === null) return this.unattempted(m, input, subject, now, true);
    const live = await count([input.challengeId, input.purpose, subject.type, subject.id, input.flowId, now]);
    if (!live) return this.unattempted(m, input, subject, now, false);
    if (!hmacMatches(live.code_hmac, codeHmac(this.secrets.otp, live.id, code))) {
      const attemptsLeft = Math.max(0, live.max_attempts - live.attempts);
      return this.fail(m, input, subject, { reason: 'invalid', attemptsLeft }, { channel: live.channel, attempts: live.attempts });
    }
    return { ok: true, live, subject };
  }

  private async fail(
    m: EntityManager,
    input: VerifyOtp,
    subject: OtpSubject | null,
    result: { reason: OtpFailureReason; attemptsLeft: number },
    extra: Record<string, unknown>,
  ): Promise<OtpFailure> {
    const details: Record<string, unknown> = { reason: result.reason, attempts_left: result.attemptsLeft, ...extra };
    if (OTP_PURPOSES.includes(input.purpose)) details.purpose = input.purpose;
    if (typeof input.challengeId === 'string' && isUuidAnyCase(input.challengeId)) details.challenge_id = input.challengeId.toLowerCase();
    if (isShortString(input.flowId)) details.flow_id = input.flowId;
    await this.audit.record(this.event('otp.failed', subject, input.context, { type: 'anonymous' }, details), m);
    return { ok: false, reason: result.reason, attemptsLeft: result.attemptsLeft };
  }

  private event(
    type: string,
    subject: OtpSubject | null,
    context: OtpAuditContext | undefined,
    defaultActor: AuditEventInput['actor'],
    details: Record<string, unknown>,
  ): AuditEventInput {
    return {
      type,
      actor: context?.actor ?? defaultActor,
      subject: subject ? { type: subject.type, id: subject.id } : null,
      organizationId: context?.organizationId ?? null,
      ip: context?.ip ?? null,
      userAgent: context?.userAgent ?? null,
      requestId: context?.requestId ?? null,
      details,
    };
  }

  private wellFormedSubject(subject: unknown): OtpSubject | null {
    const s = subject as Partial<OtpSubject> | null | undefined;
    return s && OTP_SUBJECT_TYPES.includes(s.type!) && isShortString(s.id) ? { type: s.type!, id: s.id } : null;
  }

  private wellFormedBinding(input: OtpBinding): boolean {
    return (
      typeof input.challengeId === 'string' &&
      isUuidAnyCase(input.challengeId) &&
      OTP_PURPOSES.includes(input.purpose) &&
      isShortString(input.flowId)
    );
  }

  private async load(m: EntityManager, challengeId: string): Promise<ChallengeRow | null> {
    return challengeById(m, challengeId);
  }

  /** Why a challenge cannot take an attempt, for a clear message; a mismatched binding is `not_found`. */
  private diagnose(row: ChallengeRow | null, binding: OtpBinding, now: Date): Diagnosis {
    if (
      !row ||
      row.purpose !== binding.purpose ||
      row.subject_type !== binding.subject.type ||
      row.subject_id !== binding.subject.id ||
      row.flow_id !== binding.flowId
    ) {
      return { state: 'closed', reason: 'not_found' };
    }
    if (row.consumed_at) return { state: 'closed', reason: 'used' };
    if (row.invalidated_at) return { state: 'closed', reason: 'superseded' };
    if (row.attempts >= row.max_attempts) return { state: 'closed', reason: 'exhausted' };
    if (row.expires_at.getTime() <= now.getTime()) return { state: 'closed', reason: 'expired' };
    return { state: 'active', attemptsLeft: row.max_attempts - row.attempts };
  }
}
