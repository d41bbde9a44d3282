import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { OutboxWorker } from './outbox.worker.js';

/** Starts the outbox worker with the app and stops it before the pool closes (add it to an app module's providers). */
@Injectable()
export class OutboxWorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(OutboxWorker) private readonly worker: OutboxWorker) {}
  onApplicationBootstrap(): void {
    this.worker.start();
  }
  // Before any onApplicationShutdown hook, so the worker is done before the pool closes.
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker.stop();
  }
}
