import {
  Inject,
  Module,
  RequestMethod,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import {
  AccountSessionsService,
  ContactChangeService,
  CredentialChangeService,
  MessageLanguageService,
  STEP_UP_WINDOW,
  StepUpService,
  stepUpWindow,
} from '#libs/account';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { ContactVerificationService, EmergencyContactService } from '#libs/contacts';
import { Duration } from '#libs/core';
import { FlowStore } from '#libs/flows';
import { Directory } from '#libs/identity';
import { BearerGuard, OidcProviderHost, providerMiddleware } from '#libs/oidc';
import { NotificationsModule, OutboxWorker, type OutboxPolicy } from '#libs/notifications';
import { OtpMessageQueue, OtpModule } from '#libs/otp';
import { PlatformModule, type AppOptions } from '#libs/platform';
import { RememberedDeviceService, SESSION_POLICY, SessionService } from '#libs/sessions';
import { EnrollmentService, OutboxOtpQueue, SignInFinish, SignInService } from '#libs/signin';
import { ThrottleService } from '#libs/throttle';
import { TransactionCodeService } from '#libs/transaction-codes';
import { AccountChangesApiController, AccountChangesController } from './account-changes.controller.js';
import { AccountPagesController } from './account.controller.js';
import { IdpAuthGuard } from './auth/index.js';
import { ContactsApiController, ContactsPagesController } from './contacts.controller.js';
import { FlowApiController } from './flow-api.controller.js';
import { InteractionController } from './interaction.controller.js';
import { oidcProviders, type OidcTimers } from './oidc.providers.js';
import { RecoveryWebModule } from './recovery.module.js';
import { SignInPagesController } from './signin.controller.js';
import { TransactionCodesApiController } from './transaction-codes.controller.js';
import { UnavailableFilter } from './unavailable.filter.js';
import { WebContext } from './web-context.js';

/** Starts the outbox worker with the app and stops it before the pool closes. */
class OutboxWorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(@Inject(OutboxWorker) private readonly worker: OutboxWorker) {}
  onApplicationBootstrap(): void {
    this.worker.start();
  }
  // Before any onApplicationShutdown hook, so the worker is done before the pool closes.
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker.stop();
  }
}

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
    // One module instance for the app and the OTP queue, so both see the same policy.
    const notifications = options.outboxPolicy ? NotificationsModule.register({ policy: options.outboxPolicy }) : NotificationsModule;
    return {
      module: IdpModule,
      imports: [
        PlatformModule.forRoot('idp', options),
        notifications,
        OtpModule.register({ imports: [notifications], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } }),
        RecoveryWebModule.register(notifications),
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
      ],
      providers: [
        WebContext,
        FlowStore,
        Directory,
        ThrottleService,
        RememberedDeviceService,
        {
          provide: SESSION_POLICY,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => ({
            idle: Duration.ofMinutes(config.session.idleMinutes),
            absolute: Duration.ofHours(config.session.absoluteHours),
          }),
        },
        SessionService,
        EnrollmentService,
        SignInService,
        SignInFinish,
        { provide: STEP_UP_WINDOW, inject: [APP_CONFIG], useFactory: stepUpWindow },
        StepUpService,
        CredentialChangeService,
        ContactChangeService,
        MessageLanguageService,
        AccountSessionsService,
        ContactVerificationService,
        EmergencyContactService,
        ...oidcProviders(options.oidcTimers),
        BearerGuard,
        TransactionCodeService,
        OutboxWorkerLifecycle,
        // A database that cannot be reached is 503 with Retry-After on pages and the API, not 500.
        { provide: APP_FILTER, useClass: UnavailableFilter },
        // Every route declares who may use it (apps/idp/src/auth); checked before its handler.
        { provide: APP_GUARD, useClass: IdpAuthGuard },
      ],
    };
  }
}
