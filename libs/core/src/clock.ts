/**
 * Time source. Expiry, lockout and throttling code asks a Clock, never Date.now(),
 * so tests can move time deterministically.
 */
export abstract class Clock {
  abstract now(): Date;
}

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}

/** A clock that only moves when told to. For tests and benchmarks. */
export class FixedClock extends Clock {
  private current: number;

  constructor(start: Date | string = '2026-01-15T09:00:00.000Z') {
    super();
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  set(at: Date | string): void {
    this.current = new Date(at).getTime();
  }

  advance(by: Duration): void {
    this.current += by.milliseconds;
  }
}

/**
 * A typed span of time. Constructors name their unit, so seconds and milliseconds
 * cannot be mixed up silently.
 */
export class Duration {
  private constructor(readonly milliseconds: number) {
    if (!Number.isFinite(milliseconds) || milliseconds < 0) {
      throw new RangeError(`Duration must be a finite, non-negative number of milliseconds, got ${milliseconds}`);
    }
  }

  static ofMilliseconds(ms: number): Duration {
    return new Duration(ms);
  }
  static ofSeconds(s: number): Duration {
    return new Duration(s * 1000);
  }
  static ofMinutes(m: number): Duration {
    return new Duration(m * 60_000);
  }
  static ofHours(h: number): Duration {
    return new Duration(h * 3_600_000);
  }
  static ofDays(d: number): Duration {
    return new Duration(d * 86_400_000);
  }

  get seconds(): number {
    return Math.floor(this.milliseconds / 1000);
  }

  after(instant: Date): Date {
    return new Date(instant.getTime() + this.milliseconds);
  }

  before(instant: Date): Date {
    return new Date(instant.getTime() - this.milliseconds);
  }
}
