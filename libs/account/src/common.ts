import { DomainError } from '#libs/core';
import type { StepError } from '#libs/otp';
import { type RequestMeta, type Session } from '#libs/sessions';
import { auditMeta } from '#libs/audit';

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
    ...auditMeta(meta),
  };
}

/** The session a flow was started in must be the one continuing it. */
export function assertSameSession(state: { sessionId: string }, session: Session): void {
  if (state.sessionId !== session.id) throw flowNotFound();
}

export const str = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');
