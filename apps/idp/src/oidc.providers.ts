import { Inject, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type Provider as NestProvider } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../../../libs/audit/src/index.js';
import { APP_CONFIG, SECRETS, type AppConfig, type Secrets } from '../../../libs/config/src/index.js';
import { EmergencyContactService } from '../../../libs/contacts/src/index.js';
import { Clock, Duration } from '../../../libs/core/src/index.js';
import { Directory } from '../../../libs/identity/src/index.js';
import {
  ClientRegistry,
  OIDC_PROVIDER,
  OidcPurger,
  SessionBridge,
  SigningKeyStore,
  TTL,
  createOidcProvider,
} from '../../../libs/oidc/src/index.js';
import { SESSION_POLICY, type SessionPolicy } from '../../../libs/sessions/src/index.js';
import { GatehouseSessionBridge } from './oidc-session.bridge.js';
import { oidcPages } from './oidc-views.js';

/** Starts the purge of expired provider models with the app; stops it before the pool closes. */
class OidcPurgeLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly purger: OidcPurger;

  constructor(@Inject(DataSource) dataSource: DataSource, @Inject(Clock) clock: Clock) {
    const logger = new Logger('OidcPurger');
    this.purger = new OidcPurger(dataSource, clock, (message) => logger.error(message));
  }

  onApplicationBootstrap(): void {
    this.purger.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.purger.stop();
  }
}

/** The OpenID Connect provider and what it needs, for the IdP module. */
export const OIDC_PROVIDERS: NestProvider[] = [
  {
    provide: ClientRegistry,
    inject: [DataSource, Clock, AuditService],
    useFactory: (ds: DataSource, clock: Clock, audit: AuditService) => new ClientRegistry(ds, clock, audit),
  },
  {
    provide: SigningKeyStore,
    inject: [DataSource, Clock, SECRETS],
    useFactory: (ds: DataSource, clock: Clock, secrets: Secrets) => new SigningKeyStore(ds, clock, secrets.signingKeys),
  },
  { provide: SessionBridge, useClass: GatehouseSessionBridge },
  {
    provide: OIDC_PROVIDER,
    inject: [
      APP_CONFIG,
      SECRETS,
      DataSource,
      Clock,
      Directory,
      ClientRegistry,
      SigningKeyStore,
      SessionBridge,
      SESSION_POLICY,
      EmergencyContactService,
    ],
    useFactory: async (
      config: AppConfig,
      secrets: Secrets,
      dataSource: DataSource,
      clock: Clock,
      directory: Directory,
      registry: ClientRegistry,
      keyStore: SigningKeyStore,
      bridge: SessionBridge,
      sessionPolicy: SessionPolicy,
      contacts: EmergencyContactService,
    ) => {
      // A retired key stays published while ID tokens it signed can still be presented (e.g. as id_token_hint).
      const keys = await keyStore.load(Duration.ofSeconds(TTL.IdToken + TTL.RefreshToken));
      const provider = createOidcProvider({
        config,
        secrets,
        dataSource,
        clock,
        directory,
        registry,
        keys,
        bridge,
        pages: oidcPages,
        sessionAbsolute: sessionPolicy.absolute,
        contactsPending: async (userId, sessionId) => (await contacts.prompt(userId, sessionId)).ask,
      });
      // The provider answers its own failures; a 500 is worth a log line (its name and message only, never the request).
      const logger = new Logger('OidcProvider');
      provider.on('server_error', (_ctx: unknown, error: Error) =>
        logger.error(`oidc-provider server_error: ${error.name}: ${error.message}`),
      );
      return provider;
    },
  },
  OidcPurgeLifecycle,
];
