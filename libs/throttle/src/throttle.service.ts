import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock, Duration } from '#libs/core';
import type { BatchPart, WriteBatch } from '#libs/database';
import { addSucceededParts, deleteCounter, purgeCounters, readRefusals, reserveCounters, settleCounters } from './throttle.queries.js';

export interface ThrottleRule {
  /** Failures allowed before delays start. */
  freeFailures: number;
  /** First delay; doubles with each further failure. */
  baseDelay: Duration;
  maxDelay: Duration;
  /** Failures older than this are forgotten for the delays (not for `lockAfter`). */
  window: Duration;
  /**
   * Failures in a row, across windows, after which the key is refused until a success of
   * another kind or an unlock forgets them (`reset`). Unset: no such cap.
   */
  lockAfter?: number;
}

/**
 * Per account name typed (known or not). NIST SP 800-63B §5.2.2 allows at most 100
 * consecutive failed attempts on one account: the 100th locks it until a password reset
 * (recovery) or support unlocks it.
 */
export const ACCOUNT_RULE: ThrottleRule = {
  freeFailures: 5,
  baseDelay: Duration.ofSeconds(2),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
  lockAfter: 100,
};
/** Per client address: generous (offices and carrier NAT share one), against spraying many accounts. */
export const IP_RULE: ThrottleRule = {
  freeFailures: 20,
  baseDelay: Duration.ofSeconds(1),
  maxDelay: Duration.ofMinutes(15),
  window: Duration.ofHours(1),
};

/** What a form or API answers while a key is blocked: wait this many seconds. */
export function throttledError(wait: number): { code: 'throttled'; message: string; retryAfterSeconds: number } {
  return { code: 'throttled', message: `Too many attempts. Try again in ${wait} second${wait === 1 ? '' : 's'}.`, retryAfterSeconds: wait };
}

/** What a form or API answers once an account's consecutive failures reached its rule's `lockAfter`. */
export function lockedError(): { code: 'locked'; message: string } {
  return {
    code: 'locked',
    message: 'Too many failed attempts. Reset your password with "Forgot password?", or ask support to unlock your account.',
  };
}

export type ThrottleCounter = readonly [key: string, rule: ThrottleRule];

/**
 * An attempt reserved by `reserve`: already counted as a failure against each key. Settle it
 * with `succeeded` (forget or give back) when it turned out right; a failure needs nothing more.
 */
export interface Reservation {
  readonly ok: true;
  readonly keys: readonly string[];
}

/** An attempt `reserve` refused: nothing was evaluated or counted. */
export interface Refusal {
  readonly ok: false;
  /** Seconds to wait (at least 1 unless `locked`). */
  readonly wait: number;
  /** A key reached its rule's `lockAfter`: waiting does not help. */
  readonly locked: boolean;
}

/** The error a refusal answers with. */
export function refusalError(refusal: Refusal): { code: 'throttled' | 'locked'; message: string; retryAfterSeconds?: number } {
  return refusal.locked ? lockedError() : throttledError(refusal.wait);
}

/** How long failures in a row toward a lock are remembered without a new one: 90 days. */
export const CONSECUTIVE_MEMORY = Duration.ofDays(90);

/**
 * Failure counters with progressive delays, kept in PostgreSQL so they survive restarts
 * and are shared by every app node. Keys are opaque (`signin:acct:<key>`, `signin:ip:<ip>`);
 * unknown account names are counted like known ones, so a delay reveals nothing.
 *
 * An attempt is reserved before it is evaluated (`reserve`, one statement that counts it as
 * a failure unless a key is blocked), and settled only when it succeeds (`succeeded`): a
 * burst of parallel attempts is evaluated at most as often as the rule allows in sequence,
 * never more. See docs/security.md for the numbers.
 */
@Injectable()
export class ThrottleService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  /**
   * Counts one attempt against every key at once, before it is evaluated. Refused (with
   * nothing counted) when any key is blocked or locked now.
   */
  async reserve(counters: readonly ThrottleCounter[]): Promise<Reservation | Refusal> {
    const now = this.clock.now();
    const sorted = [...counters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const keys = sorted.map(([key]) => key);
    const counted = await reserveCounters(this.dataSource, sorted, now);
    if (counted.length === keys.length) return { ok: true, keys };
    const refused = await readRefusals(this.dataSource, counted, keys);
    const locked = refused.some((r) => r.locked);
    const latest = Math.max(0, ...refused.map((r) => (r.blocked_until ? r.blocked_until.getTime() : 0)));
    return { ok: false, locked, wait: locked ? 0 : Math.max(1, Math.ceil((latest - now.getTime()) / 1000)) };
  }

  /**
   * The reserved attempt was right: the keys in `forget` lose their failures (the account's),
   * the others get the attempt back (the address's: a success is no failure). Nothing is
   * wiped that a concurrent failure counted on the keys given back.
   */
  async succeeded(reservation: Reservation, forget: readonly string[]): Promise<void> {
    const { forgotten, givenBack } = this.split(reservation, forget);
    await settleCounters(this.dataSource, forgotten, givenBack);
  }

  /** `succeeded` as parts of a WriteBatch (the statement that finishes a sign-in), run whatever else the batch does. */
  succeededIn(batch: WriteBatch, reservation: Reservation, forget: readonly string[]): BatchPart[] {
    const { forgotten, givenBack } = this.split(reservation, forget);
    return addSucceededParts(batch, forgotten, givenBack);
  }

  /**
   * The reserved attempt was neither right nor wrong (it could not be evaluated): every key
   * gets it back.
   */
  async release(reservation: Reservation): Promise<void> {
    await settleCounters(this.dataSource, [], reservation.keys);
  }

  /** Forgets a key's failures and lock (a password reset, a support unlock). */
  async reset(key: string, manager?: EntityManager): Promise<void> {
    await deleteCounter(manager ?? this.dataSource.manager, key);
  }

  /** Deletes counters with nothing left to remember (run by the periodic purge). Returns how many. */
  async purge(): Promise<number> {
    const now = this.clock.now();
    return purgeCounters(this.dataSource, now, CONSECUTIVE_MEMORY.before(now));
  }

  private split(reservation: Reservation, forget: readonly string[]): { forgotten: string[]; givenBack: string[] } {
    return {
      forgotten: reservation.keys.filter((k) => forget.includes(k)),
      givenBack: reservation.keys.filter((k) => !forget.includes(k)),
    };
  }
}
