import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import type { Duration } from '#libs/core';

/**
 * Runs `task` every `interval` on this node (the first run one interval after `start()`).
 * Runs never overlap; a failure is reported to `onError` and the next run is scheduled
 * anyway. The timer is unref'd and `stop()` waits for a run in progress, so the database
 * pool can close after it.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private running = false;

  constructor(
    private readonly name: string,
    private readonly task: () => Promise<unknown>,
    private readonly interval: Duration,
    private readonly onError: (message: string) => void,
  ) {}

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
      this.inFlight = this.task().then(
        () => undefined,
        (error: unknown) => this.onError(`${this.name} failed: ${error instanceof Error ? error.message : String(error)}`),
      );
      void this.inFlight.finally(() => {
        this.inFlight = undefined;
        if (this.running) this.schedule();
      });
    }, this.interval.milliseconds);
    this.timer.unref();
  }
}

/**
 * Periodic tasks that live with the app: started when it has booted, stopped (each waiting for
 * a run in progress) before its database pool closes. A subclass names its tasks.
 */
export abstract class PeriodicTasks implements OnApplicationBootstrap, BeforeApplicationShutdown {
  protected constructor(private readonly tasks: ReadonlyArray<{ start(): void; stop(): Promise<void> }>) {}

  onApplicationBootstrap(): void {
    for (const task of this.tasks) task.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.stop()));
  }
}
