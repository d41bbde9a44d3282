import type { DataSource } from 'typeorm';
import { Duration, type Clock } from '../../core/src/index.js';
import { purgeExpired } from './pg-adapter.js';

/**
 * Deletes expired provider models every `interval` (10 minutes by default). Each node runs
 * one; concurrent runs only delete what is expired, so they do not conflict. Its timer is
 * unref'd and `stop()` waits for a run in progress, so the pool can close after it.
 */
export class OidcPurger {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private running = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly onError: (message: string) => void,
    private readonly interval: Duration = Duration.ofMinutes(10),
  ) {}

  /** One purge now; returns how many rows were deleted. */
  async runOnce(): Promise<number> {
    return await purgeExpired(this.dataSource, this.clock.now());
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.runOnce().then(
        () => undefined,
        (error: unknown) => this.onError(`oidc purge failed: ${error instanceof Error ? error.message : String(error)}`),
      );
      void this.inFlight.finally(() => {
        this.inFlight = undefined;
        if (this.running) this.schedule();
      });
    }, this.interval.milliseconds);
    this.timer.unref();
  }
}
