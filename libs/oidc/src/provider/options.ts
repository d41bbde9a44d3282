import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { AuditService } from '#libs/audit';
import type { DataSource } from 'typeorm';
import type { AppConfig, Secrets } from '#libs/config';
import type { Clock, Duration } from '#libs/core';
import type { Directory } from '#libs/identity';
import type { Session } from '#libs/sessions';
import type { ClientRegistry } from '#libs/oidc-store';
import type { SigningKey } from '#libs/oidc-store';

/**
 * The link between oidc-provider and Gatehouse's own session (the `session` cookie), which
 * the app implements: the provider's session is only a mirror of it.
 */
export abstract class SessionBridge {
  /** The live Gatehouse session of this browser request, or null. */
  abstract current(req: IncomingMessage): Promise<Session | null>;
  /** Ends this browser's Gatehouse session, if any, and clears its cookie. */
  abstract endCurrent(req: IncomingMessage, res: ServerResponse, reason: string): Promise<void>;
}

/**
 * The value of the logout page's "Sign out" button. Only a sign-out the user confirmed on
 * that page ends the Gatehouse session too; the provider's own auto-submitted logout (when
 * its session holds no account) ends only the provider's session, so a cross-site link to
 * the end-session endpoint cannot sign anyone out of Gatehouse.
 */
export const LOGOUT_CONFIRMED = 'gatehouse';

/** Pages the provider renders itself, in Gatehouse's look (no inline script). */
export interface OidcPages {
  error(out: { error: string; error_description?: string | undefined }): string;
  /** The sign-out confirmation: `form` is the provider's (hidden) form, to be submitted by buttons with `form="op.logoutForm"`. */
  logout(form: string, clientName: string | undefined): string;
  loggedOut(clientName: string | undefined): string;
}

export interface OidcProviderOptions {
  config: AppConfig;
  secrets: Secrets;
  dataSource: DataSource;
  clock: Clock;
  directory: Directory;
  registry: ClientRegistry;
  keys: SigningKey[];
  bridge: SessionBridge;
  pages: OidcPages;
  /**
   * Whether this user's session must first answer the emergency-contacts interstitial (organization
   * policy): the request then needs an interaction, and a silent one (`prompt=none`) gets `interaction_required`.
   */
  contactsPending?: (userId: string, sessionId: string) => Promise<boolean>;
  /** Gatehouse's session absolute timeout: the provider's sessions and grants live no longer. */
  sessionAbsolute: Duration;
  /** Records authorizations answered without an interaction (single sign-on, `prompt=none`). */
  audit?: AuditService;
}

/** A middleware of the provider's own Koa application (`provider.use`). */
export type ProviderMiddleware = Parameters<Provider['use']>[0];
