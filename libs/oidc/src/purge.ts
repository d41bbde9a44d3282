import type { DataSource } from 'typeorm';
import { Duration, type Clock } from '#libs/core';
import { PeriodicTask } from './periodic.js';
import { purgeExpired } from './pg-adapter.js';

/**
 * Deletes expired provider models every `interval` (10 minutes by default). Each node runs
 * one; concurrent runs only delete what is expired, so they do not conflict. Its timer is
 * unref'd and `stop()` waits for a run in progress, so the pool can close after it.
 */
export class OidcPurger {
  private readonly task: PeriodicTask;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    onError: (message: string) => void,
    interval: Duration = Duration.ofMinutes(10),
  ) {
    this.task = new PeriodicTask('oidc purge', () => this.runOnce(), interval, onError);
  }

  /** One purge now; returns how many rows were deleted. */
  async runOnce(): Promise<number> {
    return await purgeExpired(this.dataSource, this.clock.now());
  }

  start(): void {
    this.task.start();
  }

  async stop(): Promise<void> {
    await this.task.stop();
  }
}
