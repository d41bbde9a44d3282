import { Inject, Logger } from '@nestjs/common';
import { FlowStore } from '#libs/flows';
import { OIDC_TIMERS, PeriodicTask, PeriodicTasks, type OidcTimers } from '#libs/oidc';
import { ThrottleService } from '#libs/throttle';

/**
 * On the provider's purge beat (OIDC_TIMERS.purge), the IdP also deletes expired flows
 * (auth_flows, by the injected clock) and throttle counters with nothing left to remember:
 * every node runs it, and a run only deletes what has expired.
 */
export class PurgeLifecycle extends PeriodicTasks {
  constructor(
    @Inject(OIDC_TIMERS) timers: OidcTimers,
    @Inject(FlowStore) flows: FlowStore,
    @Inject(ThrottleService) throttle: ThrottleService,
  ) {
    const onError = (message: string) => new Logger('Oidc').error(message);
    super([
      new PeriodicTask('flow purge', () => flows.purgeExpired(), timers.purge, onError),
      new PeriodicTask('throttle purge', () => throttle.purge(), timers.purge, onError),
    ]);
  }
}
