import { Duration } from '#libs/core';

/** How hard and how often the outbox tries. Injected (OUTBOX_POLICY) so tests can make it fast. */
export interface OutboxPolicy {
  /** Attempts per message, the first included; then it is `failed`. Stored per message at enqueue. */
  readonly maxAttempts: number;
  /** Wait after the first failed attempt; doubles after each further one. */
  readonly baseBackoff: Duration;
  /** Upper bound for one backoff step. */
  readonly maxBackoff: Duration;
  /**
   * How long a claimed message stays reserved for the node that claimed it. A node that
   * crashes mid-send loses its claim after this. Must be well above the send timeouts, or
   * a slow send could be claimed (and sent) again by another node.
   */
  readonly lease: Duration;
  /** Time limit for one webhook POST (SMS, voice). */
  readonly webhookTimeout: Duration;
  /** Time limit for each phase of an SMTP conversation (connect, greeting, socket idle). */
  readonly smtpTimeout: Duration;
  /** Pause between two runs of the periodic worker loop when nothing was due. */
  readonly pollInterval: Duration;
  /** Messages claimed per run. */
  readonly batchSize: number;
}

export const DEFAULT_OUTBOX_POLICY: OutboxPolicy = Object.freeze({
  maxAttempts: 5,
  baseBackoff: Duration.ofSeconds(1),
  maxBackoff: Duration.ofMinutes(5),
  lease: Duration.ofSeconds(60),
  webhookTimeout: Duration.ofSeconds(5),
  smtpTimeout: Duration.ofSeconds(15),
  pollInterval: Duration.ofMilliseconds(500),
  batchSize: 10,
});

/** DI token for an OutboxPolicy (optional: DEFAULT_OUTBOX_POLICY applies when absent). */
export const OUTBOX_POLICY = Symbol('OUTBOX_POLICY');

/** Defaults plus overrides, checked for the invariants the worker relies on. */
export function outboxPolicy(overrides: Partial<OutboxPolicy> = {}): OutboxPolicy {
  const policy = { ...DEFAULT_OUTBOX_POLICY, ...overrides };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1 || policy.maxAttempts > 50) {
    throw new RangeError('OutboxPolicy.maxAttempts must be a whole number from 1 to 50');
  }
  if (!Number.isInteger(policy.batchSize) || policy.batchSize < 1 || policy.batchSize > 1000) {
    throw new RangeError('OutboxPolicy.batchSize must be a whole number from 1 to 1000');
  }
  // Three SMTP phases can each take smtpTimeout; the lease must outlast the slowest send.
  const slowestSend = Math.max(policy.webhookTimeout.milliseconds, 3 * policy.smtpTimeout.milliseconds);
  if (policy.lease.milliseconds <= slowestSend) {
    throw new RangeError('OutboxPolicy.lease must be longer than the slowest send (webhookTimeout, 3 × smtpTimeout)');
  }
  return Object.freeze(policy);
}

/** Wait before the next attempt, after `attempts` failed ones: base, 2 × base, 4 × base, … up to maxBackoff. */
export function backoffAfter(attempts: number, policy: OutboxPolicy): Duration {
  const exponent = Math.min(30, Math.max(0, attempts - 1));
  return Duration.ofMilliseconds(Math.min(policy.maxBackoff.milliseconds, policy.baseBackoff.milliseconds * 2 ** exponent));
}
