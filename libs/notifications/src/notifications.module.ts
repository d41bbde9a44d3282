import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Clock } from '#libs/core';
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

/**
 * The outbox and its senders. Needs, from a global module (PlatformModule): APP_CONFIG,
 * Clock, SECRETS and TypeORM's DataSource. Starting the worker loop is the app's call
 * (`OutboxWorker.start()` on bootstrap, `stop()` on shutdown).
 *
 * Import it plain for the default policy, or `NotificationsModule.register({ policy })`.
 */
@Module({ providers: [...senderProviders, OutboxWorker, OutboxService], exports: exported })
export class NotificationsModule {
  static register(options: { policy?: Partial<OutboxPolicy> } = {}): DynamicModule {
    return {
      module: NotificationsModule,
      providers: [{ provide: OUTBOX_POLICY, useValue: outboxPolicy(options.policy) }],
      exports: [OUTBOX_POLICY],
    };
  }
}
