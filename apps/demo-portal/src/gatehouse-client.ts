import { Inject, Injectable } from '@nestjs/common';
import * as oidc from 'openid-client';
import { Clock } from '#libs/core';
import type { Identity, PendingAuthorization } from './portal-sessions.js';
import {
  LOA2,
  PORTAL_CLIENT,
  PORTAL_SETTINGS,
  STEP_UP_MAX_AGE_SECONDS,
  redirectUris,
  type PortalClient,
  type PortalSettings,
} from './settings.js';

/** Gatehouse could not be reached (discovery or a back-channel call failed to connect). */
export class GatehouseUnavailable extends Error {}

/** Gatehouse answered the authorization with an error (`access_denied`, `unmet_authentication_requirements`, ...). */
export class AuthorizationDenied extends Error {
  constructor(
    readonly error: string,
    readonly description: string | undefined,
  ) {
    super(`authorization error ${error}`);
  }
}

/** The callback or the token exchange failed a check (state, PKCE, nonce, signature, ...): nothing from it is used. */
export class CallbackRejected extends Error {}

const SCOPE = 'openid profile email gatehouse';

/**
 * The portal's side of OpenID Connect, all of it done by openid-client: discovery,
 * authorization code + PKCE (S256) + state + nonce as a confidential client
 * (client_secret_basic), ID token validation, userinfo and RP-initiated logout.
 */
@Injectable()
export class GatehouseClient {
  private discovered: Promise<oidc.Configuration> | undefined;
  private readonly uris: ReturnType<typeof redirectUris>;

  constructor(
    @Inject(PORTAL_SETTINGS) private readonly settings: PortalSettings,
    @Inject(PORTAL_CLIENT) private readonly client: PortalClient,
    private readonly clock: Clock,
  ) {
    this.uris = redirectUris(settings);
  }

  /** Discovery on first use (Gatehouse may start after the portal), retried after a failure. */
  private configuration(): Promise<oidc.Configuration> {
    this.discovered ??= oidc
      .discovery(
        new URL(this.settings.issuer),
        this.client.clientId,
        undefined,
        oidc.ClientSecretBasic(this.client.clientSecret),
        // Plain http only for a local issuer (development, tests); production issuers are https.
        this.settings.issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : undefined,
      )
      .catch((error: unknown) => {
        this.discovered = undefined;
        throw new GatehouseUnavailable(`Gatehouse discovery failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    return this.discovered;
  }

  /** A new authorization request: its URL and what to keep for the callback. */
  async authorize(
    purpose: PendingAuthorization['purpose'],
    returnTo: string,
    draft?: PendingAuthorization['draft'],
  ): Promise<{ url: URL; pending: PendingAuthorization }> {
    const config = await this.configuration();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const pending: PendingAuthorization = {
      purpose,
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier,
      returnTo,
      startedAt: this.clock.now().getTime(),
      ...(purpose === 'step_up' ? { maxAge: STEP_UP_MAX_AGE_SECONDS } : {}),
      ...(draft ? { draft } : {}),
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.uris.callback,
      scope: SCOPE,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      // Step-up: password + an OTP in this authentication, no older than max_age (even on a remembered device).
      ...(purpose === 'step_up' ? { acr_values: LOA2, max_age: String(STEP_UP_MAX_AGE_SECONDS) } : {}),
    });
    return { url, pending };
  }

  /**
   * The callback: openid-client checks `iss`, `state`, exchanges the code with the PKCE
   * verifier and the client secret, validates the ID token (signature by Gatehouse's JWKS,
   * issuer, audience, nonce, expiry, and auth_time against max_age), then reads userinfo
   * for the same `sub`.
   */
  async complete(query: string, pending: PendingAuthorization): Promise<Identity> {
    const config = await this.configuration();
    const callback = new URL(`${this.uris.callback}${query}`);
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
        ...(pending.maxAge !== undefined ? { maxAge: pending.maxAge } : {}),
      });
    } catch (error) {
      if (error instanceof oidc.AuthorizationResponseError) throw new AuthorizationDenied(error.error, error.error_description);
      throw this.rejected(error);
    }
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new CallbackRejected('no ID token');
    let info: oidc.UserInfoResponse;
    try {
      info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    } catch (error) {
      throw this.rejected(error);
    }
    const text = (value: unknown) => (typeof value === 'string' && value.length <= 300 ? value : null);
    return {
      claims: { sub: claims.sub, acr: claims.acr, amr: claims.amr, auth_time: claims.auth_time, iat: claims.iat },
      profile: {
        name: text(info.name),
        enterpriseId: text(info.enterprise_id),
        organization: text(info.organization),
        email: text(info.email),
      },
      idToken: tokens.id_token,
    };
  }

  /** RP-initiated logout at Gatehouse, coming back to the portal's signed-out page. */
  async endSessionUrl(idToken: string | null): Promise<URL> {
    const config = await this.configuration();
    return oidc.buildEndSessionUrl(config, {
      client_id: this.client.clientId,
      post_logout_redirect_uri: this.uris.signedOut,
      ...(idToken ? { id_token_hint: idToken } : {}),
    });
  }

  private rejected(error: unknown): Error {
    if (error instanceof TypeError && /fetch failed/u.test(error.message)) return new GatehouseUnavailable(error.message);
    const code = error instanceof oidc.ResponseBodyError ? error.error : error instanceof oidc.ClientError ? error.code : undefined;
    return new CallbackRejected(`${code ?? 'invalid response'}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
