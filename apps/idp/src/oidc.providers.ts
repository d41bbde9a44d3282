import { Inject, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type Provider as NestProvider } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { APP_CONFIG, SECRETS, type AppConfig, type Secrets } from '#libs/config';
import { EmergencyContactService } from '#libs/contacts';
import { Clock, Duration } from '#libs/core';
import { FlowStore } from '#libs/flows';
import { ThrottleService } from '#libs/throttle';
import { Directory } from '#libs/identity';
import {
  BackchannelLogout,
  OIDC_PROVIDER,
  OidcProviderHost,
  OidcPurger,
  PeriodicTask,
  SessionBridge,
  createOidcProvider,
} from '#libs/oidc';
import { ClientRegistry, SIGNING_KEY_RETENTION, SigningKeyStore } from '#libs/oidc-store';
import { SESSION_POLICY, type SessionPolicy } from '#libs/sessions';
import { GatehouseSessionBridge } from './oidc-session.bridge.js';
import { oidcPages } from './oidc-views.js';

/** How often each node does the provider's background work. */
export interface OidcTimers {
  /** Checks the signing-key set (a rotation on any node, a pending key starting to sign, a retired key dropping out). */
  keyRefresh: Duration;
  /** Drains the back-channel logout queue. */
  logoutQueue: Duration;
  /** Waits before retrying a logout token the relying app did not accept. */
  logoutRetryDelays: Duration[];
  /** Deletes expired rows: the provider's models, sign-in, enrollment and recovery flows (auth_flows), and idle throttle counters. */
  purge: Duration;
}

export const OIDC_TIMERS = Symbol('OIDC_TIMERS');

export const DEFAULT_OIDC_TIMERS: OidcTimers = {
  keyRefresh: Duration.ofSeconds(10),
  logoutQueue: Duration.ofSeconds(2),
  logoutRetryDelays: [Duration.ofSeconds(1), Duration.ofSeconds(4)],
  purge: Duration.ofMinutes(10),
};

/**
 * Starts the provider's background work with the app (purge, key refresh, logout queue); stops it before the pool closes.
 * The purge also deletes expired flows (auth_flows, by the injected clock) and throttle counters with nothing left to
 * remember: every node runs it, and a run only deletes what has expired.
 */
class OidcLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly tasks: Array<{ start(): void; stop(): Promise<void> }>;

  constructor(
    @Inject(DataSource) dataSource: DataSource,
    @Inject(Clock) clock: Clock,
    @Inject(OidcProviderHost) host: OidcProviderHost,
    @Inject(BackchannelLogout) backchannel: BackchannelLogout,
    @Inject(OIDC_TIMERS) timers: OidcTimers,
    @Inject(FlowStore) flows: FlowStore,
    @Inject(ThrottleService) throttle: ThrottleService,
  ) {
    const logger = new Logger('Oidc');
    const onError = (message: string) => logger.error(message);
    this.tasks = [
      new OidcPurger(dataSource, clock, onError, timers.purge),
      new PeriodicTask('flow purge', () => flows.purgeExpired(), timers.purge, onError),
      new PeriodicTask('throttle purge', () => throttle.purge(), timers.purge, onError),
      new PeriodicTask('signing-key refresh', () => host.refresh(), timers.keyRefresh, onError),
      new PeriodicTask('back-channel logout', () => backchannel.drainQueue(), timers.logoutQueue, onError),
    ];
  }

  onApplicationBootstrap(): void {
    for (const task of this.tasks) task.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.stop()));
  }
}

/** The OpenID Connect provider and what it needs, for the IdP module (ClientRegistry and SigningKeyStore come from OidcStoreModule). */
export function oidcProviders(timers: Partial<OidcTimers> = {}): NestProvider[] {
  return [
    { provide: OIDC_TIMERS, useValue: { ...DEFAULT_OIDC_TIMERS, ...timers } },
    { provide: SessionBridge, useClass: GatehouseSessionBridge },
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
        SESSION_POLICY,
        AuditService,
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
        audit: AuditService,
        contacts: EmergencyContactService,
      ) => {
        const logger = new Logger('OidcProvider');
        // A retired key stays published while ID tokens it signed can still be presented (e.g. as id_token_hint).
        return await OidcProviderHost.start(keyStore, SIGNING_KEY_RETENTION, (keys) => {
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
            audit,
            contactsPending: async (userId, sessionId) => (await contacts.prompt(userId, sessionId)).ask,
          });
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
      },
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
  ];
}

function meta(ctx: KoaContextWithOIDC): { ip: string | null; userAgent: string | null; requestId: string | null } {
  const id = (ctx.req as IncomingMessage & { id?: unknown }).id;
  return { ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null, requestId: typeof id === 'string' ? id : null };
}
