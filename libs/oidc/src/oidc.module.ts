import { Inject, Logger, Module, type DynamicModule, type FactoryProvider, type ModuleMetadata, type Type } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { APP_CONFIG, SECRETS, type AppConfig, type Secrets } from '#libs/config';
import { Clock, Duration } from '#libs/core';
import { Directory, IdentityModule } from '#libs/identity';
import { ClientRegistry, OidcStoreModule, SIGNING_KEY_RETENTION, SigningKeyStore } from '#libs/oidc-store';
import { DEFAULT_SESSION_POLICY, SESSION_POLICY, type SessionPolicy } from '#libs/sessions';
import { BackchannelLogout } from './backchannel.js';
import { PeriodicTask, PeriodicTasks } from './periodic.js';
import { OidcProviderHost } from './provider-host.js';
import { OIDC_PROVIDER, SessionBridge, createOidcProvider, type OidcPages } from './provider.js';
import { OidcPurger } from './purge.js';

/** How often each node does the provider's background work. */
export interface OidcTimers {
  /** Checks the signing-key set (a rotation on any node, a pending key starting to sign, a retired key dropping out). */
  keyRefresh: Duration;
  /** Drains the back-channel logout queue. */
  logoutQueue: Duration;
  /** Waits before retrying a logout token the relying app did not accept. */
  logoutRetryDelays: Duration[];
  /** Deletes expired rows: the provider's models (and, by the app, other expired state on the same beat). */
  purge: Duration;
}

export const OIDC_TIMERS = Symbol('OIDC_TIMERS');

export const DEFAULT_OIDC_TIMERS: OidcTimers = {
  keyRefresh: Duration.ofSeconds(10),
  logoutQueue: Duration.ofSeconds(2),
  logoutRetryDelays: [Duration.ofSeconds(1), Duration.ofSeconds(4)],
  purge: Duration.ofMinutes(10),
};

/** Whether a user has emergency contacts to confirm in this session (the app's answer, asked after sign-in). */
export type ContactsPending = (userId: string, sessionId: string) => Promise<boolean>;
export const CONTACTS_PENDING = Symbol('CONTACTS_PENDING');

export interface OidcModuleOptions {
  /** The provider's own pages (the IdP's views). */
  pages: OidcPages;
  /** How the provider sees the app's session (the IdP's cookie and SessionService). */
  bridge: Type<SessionBridge>;
  /** The app's CONTACTS_PENDING, e.g. from its emergency contacts service. */
  contactsPending: Omit<FactoryProvider<ContactsPending>, 'provide'>;
  /** Modules the bridge and `contactsPending` need. */
  imports?: ModuleMetadata['imports'];
  /** Overrides of DEFAULT_OIDC_TIMERS (tests make key refresh and logout delivery quick). */
  timers?: Partial<OidcTimers>;
}

/** Starts the provider's background work with the app (purge, key refresh, logout queue); stops it before the pool closes. */
class OidcLifecycle extends PeriodicTasks {
  constructor(
    @Inject(DataSource) dataSource: DataSource,
    @Inject(Clock) clock: Clock,
    @Inject(OidcProviderHost) host: OidcProviderHost,
    @Inject(BackchannelLogout) backchannel: BackchannelLogout,
    @Inject(OIDC_TIMERS) timers: OidcTimers,
  ) {
    const onError = (message: string) => new Logger('Oidc').error(message);
    super([
      new OidcPurger(dataSource, clock, onError, timers.purge),
      new PeriodicTask('signing-key refresh', () => host.refresh(), timers.keyRefresh, onError),
      new PeriodicTask('back-channel logout', () => backchannel.drainQueue(), timers.logoutQueue, onError),
    ]);
  }
}

/**
 * The OpenID Connect provider and its background work. The app passes what the provider
 * shows and sees of it (pages, session bridge, the contacts prompt); the client registry and
 * signing keys come from OidcStoreModule. DataSource, Clock, config, secrets and AuditService
 * come from the (global) platform module.
 */
@Module({})
export class OidcModule {
  static forRoot(options: OidcModuleOptions): DynamicModule {
    const exported = [OidcProviderHost, OIDC_PROVIDER, BackchannelLogout, OIDC_TIMERS];
    return {
      module: OidcModule,
      imports: [IdentityModule, OidcStoreModule, ...(options.imports ?? [])],
      providers: [
        { provide: OIDC_TIMERS, useValue: { ...DEFAULT_OIDC_TIMERS, ...options.timers } },
        { provide: SessionBridge, useClass: options.bridge },
        { provide: CONTACTS_PENDING, ...options.contactsPending },
        {
          provide: OidcProviderHost,
          inject: [
            APP_CONFIG,
            SECRETS,
            DataSource,
            Clock,
            Directory,
            ClientRegistry,
            SigningKeyStore,
            SessionBridge,
            { token: SESSION_POLICY, optional: true },
            AuditService,
            CONTACTS_PENDING,
          ],
          useFactory: (
            config: AppConfig,
            secrets: Secrets,
            dataSource: DataSource,
            clock: Clock,
            directory: Directory,
            registry: ClientRegistry,
            keyStore: SigningKeyStore,
            bridge: SessionBridge,
            sessionPolicy: SessionPolicy | undefined,
            audit: AuditService,
            contactsPending: ContactsPending,
          ) =>
            startProvider(keyStore, audit, {
              config,
              secrets,
              dataSource,
              clock,
              directory,
              registry,
              bridge,
              pages: options.pages,
              sessionAbsolute: (sessionPolicy ?? DEFAULT_SESSION_POLICY).absolute,
              audit,
              contactsPending,
            }),
        },
        // Model and interaction APIs (any instance will do: their state is in PostgreSQL); HTTP and signing use OidcProviderHost.current.
        { provide: OIDC_PROVIDER, inject: [OidcProviderHost], useFactory: (host: OidcProviderHost): Provider => host.current },
        {
          provide: BackchannelLogout,
          inject: [OidcProviderHost, DataSource, AuditService, OIDC_TIMERS, Clock],
          useFactory: (host: OidcProviderHost, ds: DataSource, audit: AuditService, t: OidcTimers, clock: Clock) => {
            const logger = new Logger('BackchannelLogout');
            return new BackchannelLogout(
              () => host.current,
              ds,
              audit,
              (message) => logger.error(message),
              clock,
              t.logoutRetryDelays,
            );
          },
        },
        OidcLifecycle,
      ],
      exports: exported,
    };
  }
}

/** Starts the provider host: a provider per signing-key set, with its failures logged and its logout tokens audited. */
async function startProvider(
  keyStore: SigningKeyStore,
  audit: AuditService,
  o: Omit<Parameters<typeof createOidcProvider>[0], 'keys'>,
): Promise<OidcProviderHost> {
  const logger = new Logger('OidcProvider');
  // A retired key stays published while ID tokens it signed can still be presented (e.g. as id_token_hint).
  return await OidcProviderHost.start(keyStore, SIGNING_KEY_RETENTION, (keys) => {
    const provider = createOidcProvider({ ...o, keys });
    // The provider answers its own failures; a 500 is worth a log line (its name and message only, never the request).
    provider.on('server_error', (_ctx: unknown, error: Error) =>
      logger.error(`oidc-provider server_error: ${error.name}: ${error.message}`),
    );
    // Logout tokens the end-session endpoint sends itself (RP-initiated logout) are audited like the others.
    const audited = (ctx: KoaContextWithOIDC, clientId: string, accountId: string, sid: string, delivered: boolean) =>
      void BackchannelLogout.record(
        audit,
        accountId,
        { client_id: clientId, sid, session_id: null, reason: 'oidc_logout', delivered, attempts: 1 },
        meta(ctx),
      ).catch((error: unknown) =>
        logger.error(`audit of a logout token failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    provider.on('backchannel.success', (ctx: KoaContextWithOIDC, client: { clientId: string }, accountId: string, sid: string) =>
      audited(ctx, client.clientId, accountId, sid, true),
    );
    provider.on(
      'backchannel.error',
      (ctx: KoaContextWithOIDC, error: Error, client: { clientId: string }, accountId: string, sid: string) => {
        logger.error(`back-channel logout to client ${client.clientId} failed: ${error.message}`);
        audited(ctx, client.clientId, accountId, sid, false);
      },
    );
    return provider;
  });
}

function meta(ctx: KoaContextWithOIDC): { ip: string | null; userAgent: string | null; requestId: string | null } {
  const id = (ctx.req as IncomingMessage & { id?: unknown }).id;
  return { ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null, requestId: typeof id === 'string' ? id : null };
}
