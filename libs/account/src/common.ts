import { DomainError } from '../../core/src/index.js';
import type { OtpChannel } from '../../identity/src/index.js';
import type { OutboxService } from '../../notifications/src/index.js';
import type { IssueOtp, IssuedOtp, OtpService } from '../../otp/src/index.js';
import type { RequestMeta, Session } from '../../sessions/src/index.js';
import { DELIVERY_WAIT_MS, type Delivery, type StepError } from '../../signin/src/index.js';

export const STEP_UP_REQUIRED: StepError = {
  code: 'step_up_required',
  message: 'For your security, confirm it is you with a one-time code first.',
};

/** What the user reads when a session is gone in the middle of a change (ended elsewhere, or outdated). */
export function sessionEnded(): DomainError {
  return new DomainError('unauthorized', 'Your session has ended. Please sign in again.');
}

/** A flow of another session (or of nobody) looks exactly like a flow that does not exist. */
export function flowNotFound(): DomainError {
  return new DomainError('flow_not_found', 'This step is no longer valid. Please start again.');
}

export function requestContext(userId: string, organizationId: string, meta: RequestMeta) {
  return {
    actor: { type: 'user' as const, id: userId },
    organizationId,
    ip: meta.ip ?? null,
    userAgent: meta.userAgent ?? null,
    requestId: meta.requestId ?? null,
  };
}

export function auditMeta(meta: RequestMeta) {
  return { ip: meta.ip ?? null, userAgent: meta.userAgent ?? null, requestId: meta.requestId ?? null };
}

const HOW: Record<OtpChannel, string> = { email: 'email', sms: 'text message', voice: 'voice call' };

/**
 * Issues a code, turning the cooldown and hourly caps (and a destination the outbox cannot
 * send to) into an error for the page instead of an exception.
 */
export async function issueCode(otp: OtpService, request: IssueOtp): Promise<{ issued: IssuedOtp } | { error: StepError }> {
  try {
    return { issued: await otp.issue(request) };
  } catch (error) {
    if (error instanceof DomainError && (error.code === 'otp_cooldown' || error.code === 'otp_rate_limited')) {
      const retry = Number(error.details.retryAfterSeconds ?? 30);
      return {
        error: {
          code: error.code,
          message:
            error.code === 'otp_cooldown'
              ? `Please wait ${retry} seconds before asking for a new code.`
              : `Too many codes were sent. Try again in ${Math.ceil(retry / 60)} minutes.`,
          retryAfterSeconds: retry,
        },
      };
    }
    if (error instanceof DomainError && (error.code === 'invalid_message' || error.code === 'invalid_request')) {
      return { error: { code: 'undeliverable', message: `We cannot send a code by ${HOW[request.channel]} to this destination.` } };
    }
    throw error;
  }
}

/** Waits (a bounded time) for the code's message to be handed over, and says so when it could not be. */
export async function deliverCode(
  outbox: OutboxService,
  messageId: string,
  channel: OtpChannel,
): Promise<{ delivery: Delivery; error?: StepError }> {
  const delivery = await outbox.deliverNow(messageId, DELIVERY_WAIT_MS);
  if (delivery !== 'failed') return { delivery };
  return {
    delivery,
    error: { code: 'delivery_failed', message: `We could not send your code by ${HOW[channel]}. Try again or choose another way.` },
  };
}

/** The session a flow was started in must be the one continuing it. */
export function assertSameSession(state: { sessionId: string }, session: Session): void {
  if (state.sessionId !== session.id) throw flowNotFound();
}

export const str = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');
