import { Inject, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { FlowStore } from '#libs/flows';
import { OIDC_TIMERS, PeriodicTask, type OidcTimers } from '#libs/oidc';
import { ThrottleService } from '#libs/throttle';

/**
 * On the provider's purge beat (OIDC_TIMERS.purge), the IdP also deletes expired flows
 * (auth_flows, by the injected clock) and throttle counters with nothing left to remember:
 * every node runs it, and a run only deletes what has expired.
 */
export class PurgeLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly tasks: PeriodicTask[];

  constructor(
    @Inject(OIDC_TIMERS) timers: OidcTimers,
    @Inject(FlowStore) flows: FlowStore,
    @Inject(ThrottleService) throttle: ThrottleService,
  ) {
    const logger = new Logger('Oidc');
    const onError = (message: string) => logger.error(message);
    this.tasks = [
      new PeriodicTask('flow purge', () => flows.purgeExpired(), timers.purge, onError),
      new PeriodicTask('throttle purge', () => throttle.purge(), timers.purge, onError),
    ];
  }

  onApplicationBootstrap(): void {
    for (const task of this.tasks) task.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.stop()));
  }
}
