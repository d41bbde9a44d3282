import type { AppConfig } from '#libs/config';

/** Where the portal lives and which Gatehouse it trusts. */
export interface PortalSettings {
  /** The portal's own origin, as browsers reach it (its redirect URIs derive from it). */
  readonly baseUrl: string;
  /** Gatehouse's issuer URL (discovery, then every endpoint from its metadata). */
  readonly issuer: string;
}

/** The portal's client registration at Gatehouse (a confidential client). */
export interface PortalClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

export const PORTAL_SETTINGS = Symbol('PORTAL_SETTINGS');
export const PORTAL_CLIENT = Symbol('PORTAL_CLIENT');

/** The level of assurance Gatehouse reports for password + an OTP verified in that authentication (CONTRACT.md). */
export const LOA2 = 'urn:gatehouse:loa:2';

/** Payment details need a loa:2 authentication no older than this many seconds (the partner programme's rule). */
export const STEP_UP_MAX_AGE_SECONDS = 600;

/** `npm start`: the portal on DEMO_PORT of localhost, trusting the configured issuer. */
export function defaultPortalSettings(config: AppConfig): PortalSettings {
  return { baseUrl: `http://localhost:${config.demoPort}`, issuer: config.issuer };
}

export function redirectUris(settings: PortalSettings): { callback: string; signedOut: string } {
  return { callback: `${settings.baseUrl}/callback`, signedOut: `${settings.baseUrl}/signed-out` };
}
