import { Inject, Module, RequestMethod, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AccountModule, stepUpWindow } from '#libs/account';
import { ContactsModule, EmergencyContactService } from '#libs/contacts';
import { Duration } from '#libs/core';
import { FlowsModule } from '#libs/flows';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule, type OutboxPolicy } from '#libs/notifications';
import { OidcModule, OidcProviderHost, providerMiddleware, type ContactsPending, type OidcTimers } from '#libs/oidc';
import { OidcStoreModule } from '#libs/oidc-store';
import { OtpMessageQueue, OtpModule } from '#libs/otp';
import { PlatformModule, type AppOptions } from '#libs/platform';
import { RecoveryModule } from '#libs/recovery';
import { SessionsModule } from '#libs/sessions';
import { OutboxOtpQueue, SignInModule } from '#libs/signin';
import { ThrottleModule } from '#libs/throttle';
import { TransactionCodesModule } from '#libs/transaction-codes';
import { AccountChangesApiController, AccountChangesController } from './account-changes.controller.js';
import { AccountPagesController } from './account.controller.js';
import { IdpAuthGuard } from './auth/index.js';
import { ContactsApiController, ContactsPagesController } from './contacts.controller.js';
import { FlowApiController } from './flow-api.controller.js';
import { InteractionController } from './interaction.controller.js';
import { GatehouseSessionBridge } from './oidc-session.bridge.js';
import { oidcPages } from './oidc-views.js';
import { PurgeLifecycle } from './purge.lifecycle.js';
import { RecoveryApiController } from './recovery-api.controller.js';
import { RecoveryPagesController } from './recovery.controller.js';
import { SignInPagesController } from './signin.controller.js';
import { TransactionCodesApiController } from './transaction-codes.controller.js';
import { UnavailableFilter } from './unavailable.filter.js';
import { IdpWebModule } from './web-context.js';

export interface IdpOptions extends AppOptions {
  /** Overrides of the outbox's retry policy (tests make a failed delivery final at once). */
  outboxPolicy?: Partial<OutboxPolicy>;
  /** Overrides of the OpenID provider's background intervals (tests make key refresh and logout delivery quick). */
  oidcTimers?: Partial<OidcTimers>;
}

/** The public server: sign-in pages, flow API, OIDC and self-service. */
@Module({})
export class IdpModule implements NestModule {
  constructor(@Inject(OidcProviderHost) private readonly oidc: OidcProviderHost) {}

  /**
   * oidc-provider answers its own paths. It runs as a middleware of this (root) module, so after
   * the global request logger (request id, access log) and before Nest's routes.
   */
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(providerMiddleware(this.oidc)).forRoutes({ path: '{/*splat}', method: RequestMethod.ALL });
  }

  static forRoot(options: IdpOptions): DynamicModule {
    const { config } = options;
    return {
      module: IdpModule,
      imports: [
        PlatformModule.forRoot('idp', options),
        // The app's choices, once: the libraries below import these modules plain.
        NotificationsModule.forRoot({ worker: true, policy: options.outboxPolicy }),
        OtpModule.forRoot({ imports: [NotificationsModule], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } }),
        SessionsModule.forRoot({
          policy: { idle: Duration.ofMinutes(config.session.idleMinutes), absolute: Duration.ofHours(config.session.absoluteHours) },
        }),
        AccountModule.forRoot({ stepUpWindow: stepUpWindow(config) }),
        SignInModule,
        RecoveryModule,
        ContactsModule,
        TransactionCodesModule,
        FlowsModule,
        IdentityModule,
        ThrottleModule,
        OidcStoreModule,
        IdpWebModule,
        OidcModule.forRoot({
          pages: oidcPages,
          bridge: GatehouseSessionBridge,
          contactsPending: {
            inject: [EmergencyContactService],
            useFactory:
              (contacts: EmergencyContactService): ContactsPending =>
              async (userId, sessionId) =>
                (await contacts.prompt(userId, sessionId)).ask,
          },
          imports: [IdpWebModule, SessionsModule, ContactsModule],
          timers: options.oidcTimers,
        }),
      ],
      controllers: [
        SignInPagesController,
        AccountPagesController,
        FlowApiController,
        AccountChangesController,
        AccountChangesApiController,
        InteractionController,
        ContactsPagesController,
        ContactsApiController,
        TransactionCodesApiController,
        RecoveryPagesController,
        RecoveryApiController,
      ],
      providers: [
        PurgeLifecycle,
        // A database that cannot be reached is 503 with Retry-After on pages and the API, not 500.
        { provide: APP_FILTER, useClass: UnavailableFilter },
        // Every route declares who may use it (apps/idp/src/auth); checked before its handler.
        { provide: APP_GUARD, useClass: IdpAuthGuard },
      ],
    };
  }
}
