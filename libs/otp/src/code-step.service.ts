import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError, type Channel } from '#libs/core';
import { OtpService, type OtpCheck } from './otp.service.js';
import { DELIVERY_WAIT_MS, deliveryFailed, issueRefusal, otpFailureMessage, undeliverable, type StepError } from './step-error.js';
import { OtpMessageQueue, type Delivery, type IssueOtp, type IssuedOtp, type VerifyOtp } from './types.js';

/** A code sent, or why not (cooldown, hourly caps, a destination no sender accepts): nothing was stored then. */
export type CodeIssue = { ok: true; issued: IssuedOtp } | { ok: false; error: StepError };

/** What happened to a code's message, for the step's answer: `error` says when it could not be sent. */
export interface Delivered {
  delivery: Delivery;
  error?: StepError;
}

/** A code sent and handed to its sender (or not yet, or not at all: see `delivered`). */
export type CodeSend<T> = { ok: true; issued: IssuedOtp; recorded: T; delivered: Delivered } | { ok: false; error: StepError };

export type CodeVerify = { ok: true; challengeId: string } | { ok: false; error: StepError };

export interface SendOptions {
  /** What a failed delivery suggests: another channel (`choose`, the default) or "Send a new code" (`resend`). */
  next?: 'choose' | 'resend';
  /** Whether the failed-delivery message names the channel (default true). */
  nameChannel?: boolean;
  /** Answer a destination the outbox refuses as a step error (`undeliverable`) instead of throwing. */
  refuseUndeliverable?: boolean;
}

/**
 * The I/O around the code sub-step (code-step.ts), the same for every flow: issue a code and
 * turn the cooldown and hourly caps into the step's error; wait a bounded time for its message
 * to be handed over and say when it could not be; tell where a message stands; verify a code
 * and turn a failure into words people can act on. The flow keeps its own state and store.
 */
@Injectable()
export class CodeStepService {
  constructor(
    private readonly otp: OtpService,
    private readonly queue: OtpMessageQueue,
  ) {}

  /** Issues a code (OtpService.issue); a refusal people can act on comes back as `error`, anything else is thrown. */
  async issue(request: IssueOtp, options: Pick<SendOptions, 'refuseUndeliverable'> = {}, manager?: EntityManager): Promise<CodeIssue> {
    try {
      return { ok: true, issued: await this.otp.issue(request, manager) };
    } catch (error) {
      if (error instanceof DomainError && (error.code === 'otp_cooldown' || error.code === 'otp_rate_limited')) {
        return { ok: false, error: issueRefusal(error.code, Number(error.details.retryAfterSeconds ?? 30)) };
      }
      if (
        options.refuseUndeliverable &&
        error instanceof DomainError &&
        (error.code === 'invalid_message' || error.code === 'invalid_request')
      ) {
        return { ok: false, error: undeliverable(request.channel) };
      }
      throw error;
    }
  }

  /**
   * Sends a code: issues it, lets the flow record it (`record`, e.g. saving the flow's next
   * state with the challenge), then waits up to DELIVERY_WAIT_MS for its message to be
   * handed over. A refused issue records nothing.
   */
  async send<T>(request: IssueOtp, record: (issued: IssuedOtp) => Promise<T>, options: SendOptions = {}): Promise<CodeSend<T>> {
    const sent = await this.issue(request, options);
    if (!sent.ok) return sent;
    const recorded = await record(sent.issued);
    const delivered = await this.deliver(sent.issued.messageId, options.nameChannel === false ? null : request.channel, options.next);
    return { ok: true, issued: sent.issued, recorded, delivered };
  }

  /** Waits (a bounded time) for the code's message to be handed over, and says so when it could not be. */
  async deliver(messageId: string, channel: Channel | null, next: 'choose' | 'resend' = 'choose'): Promise<Delivered> {
    const delivery = await this.queue.deliverNow(messageId, DELIVERY_WAIT_MS);
    return delivery === 'failed' ? { delivery, error: deliveryFailed(channel, next) } : { delivery };
  }

  /** Where the message with a code stands now. */
  status(messageId: string): Promise<Delivery> {
    return this.queue.status(messageId);
  }

  /** Verifies a code (OtpService.verify: in `manager`'s transaction when given); a failure in words people can act on. */
  async verify(input: VerifyOtp, manager?: EntityManager): Promise<CodeVerify> {
    const result = await this.otp.verify(input, manager);
    return result.ok ? result : { ok: false, error: otpFailureMessage(result) };
  }

  /** Counts an attempt and compares the code without using it (OtpService.check), for flows that use it in their own statement. */
  check(input: VerifyOtp): Promise<OtpCheck> {
    return this.otp.check(input);
  }
}
