import { Module, type DynamicModule, type ModuleMetadata } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Duration } from '#libs/core';
import { FlowStore } from '#libs/flows';
import { Directory } from '#libs/identity';
import { OtpMessageQueue, OtpModule } from '#libs/otp';
import { PasswordResetService, RecoveryFlows, RecoveryService, SecurityCodeGuard } from '#libs/recovery';
import { RememberedDeviceService, SESSION_POLICY, SessionService } from '#libs/sessions';
import { OutboxOtpQueue } from '#libs/signin';
import { ThrottleService } from '#libs/throttle';
import { RecoveryApiController } from './recovery-api.controller.js';
import { RecoveryPagesController } from './recovery.controller.js';
import { WebContext } from './web-context.js';

type Imported = NonNullable<ModuleMetadata['imports']>[number];

/**
 * Self-service recovery on the IdP: the hosted pages (/recover/...) and the JSON API
 * (/api/v1/recovery/...). Imported by IdpModule with the app's notifications module, so
 * codes and notices go through the same outbox (and its one worker). The small stateless
 * helpers (flow store, directory, throttle, sessions, devices, web context) are provided here too.
 */
@Module({})
export class RecoveryWebModule {
  static register(notifications: Imported): DynamicModule {
    return {
      module: RecoveryWebModule,
      imports: [
        notifications,
        OtpModule.register({ imports: [notifications], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } }),
      ],
      controllers: [RecoveryPagesController, RecoveryApiController],
      providers: [
        WebContext,
        FlowStore,
        Directory,
        ThrottleService,
        {
          provide: SESSION_POLICY,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => ({
            idle: Duration.ofMinutes(config.session.idleMinutes),
            absolute: Duration.ofHours(config.session.absoluteHours),
          }),
        },
        SessionService,
        RememberedDeviceService,
        SecurityCodeGuard,
        RecoveryFlows,
        PasswordResetService,
        RecoveryService,
      ],
      exports: [SecurityCodeGuard, RecoveryService],
    };
  }
}
