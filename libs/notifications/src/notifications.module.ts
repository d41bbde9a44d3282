import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_CONFIG, appChoices, type AppConfig } from '#libs/config';
import { Clock } from '#libs/core';
import { OutboxWorkerLifecycle } from './outbox-lifecycle.js';
import { OutboxService } from './outbox.service.js';
import { OutboxWorker } from './outbox.worker.js';
import { DEFAULT_OUTBOX_POLICY, OUTBOX_POLICY, outboxPolicy, type OutboxPolicy } from './policy.js';
import { createMailSender, createSmsSender, createVoiceCaller } from './sender-factory.js';
import { MailSender, SmsSender, VoiceCaller } from './senders.js';

const optionalPolicy = { token: OUTBOX_POLICY, optional: true };
const senderProviders: Provider[] = [
  {
    provide: MailSender,
    inject: [APP_CONFIG, Clock, optionalPolicy],
    useFactory: (config: AppConfig, clock: Clock, policy?: OutboxPolicy) =>
      createMailSender(config, clock, policy ?? DEFAULT_OUTBOX_POLICY),
  },
  {
    provide: SmsSender,
    inject: [APP_CONFIG, Clock, optionalPolicy],
    useFactory: (config: AppConfig, clock: Clock, policy?: OutboxPolicy) => createSmsSender(config, clock, policy ?? DEFAULT_OUTBOX_POLICY),
  },
  {
    provide: VoiceCaller,
    inject: [APP_CONFIG, Clock, optionalPolicy],
    useFactory: (config: AppConfig, clock: Clock, policy?: OutboxPolicy) =>
      createVoiceCaller(config, clock, policy ?? DEFAULT_OUTBOX_POLICY),
  },
];
const exported = [OutboxService, OutboxWorker, MailSender, SmsSender, VoiceCaller];

export interface NotificationsOptions {
  /** Overrides of DEFAULT_OUTBOX_POLICY (tests make a failed delivery final at once). */
  policy?: Partial<OutboxPolicy>;
  /** Whether this app runs the worker loop: started on bootstrap, stopped before the pool closes (OutboxWorkerLifecycle). */
  worker?: boolean;
}

/**
 * The outbox and its senders. Needs, from the global platform module: APP_CONFIG, Clock, SECRETS
 * and TypeORM's DataSource.
 *
 * The retry policy and whether the worker loop runs are the app's choices: the app imports
 * `NotificationsModule.forRoot({ policy, worker })` once (DEFAULT_OUTBOX_POLICY and no loop
 * without them); libraries import NotificationsModule plain.
 */
@Module({ providers: [...senderProviders, OutboxWorker, OutboxService], exports: exported })
export class NotificationsModule {
  static forRoot(options: NotificationsOptions = {}): DynamicModule {
    const policy = options.policy ? [{ provide: OUTBOX_POLICY, useValue: outboxPolicy(options.policy) }] : [];
    return appChoices(NotificationsModule, [...policy, ...(options.worker ? [OutboxWorkerLifecycle] : [])]);
  }
}
