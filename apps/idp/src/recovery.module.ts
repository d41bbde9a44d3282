import { Module, type DynamicModule, type ModuleMetadata } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../../../libs/config/src/index.js';
import { Duration } from '../../../libs/core/src/index.js';
import { FlowStore } from '../../../libs/flows/src/index.js';
import { Directory } from '../../../libs/identity/src/index.js';
import { OtpMessageQueue, OtpModule } from '../../../libs/otp/src/index.js';
import { RecoveryService, SecurityCodeGuard } from '../../../libs/recovery/src/index.js';
import { RememberedDeviceService, SESSION_POLICY, SessionService } from '../../../libs/sessions/src/index.js';
import { OutboxOtpQueue } from '../../../libs/signin/src/index.js';
import { ThrottleService } from '../../../libs/throttle/src/index.js';
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
        RecoveryService,
      ],
      exports: [SecurityCodeGuard, RecoveryService],
    };
  }
}
