import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import type { AuditService } from '#libs/audit';
import { revokeGrant } from '../pg-adapter.js';
import { LOGOUT_CONFIRMED, type ProviderMiddleware, type SessionBridge } from './options.js';
import { accountEvent } from './request-audit.js';
import { END_SESSION_CONFIRM_PATH } from './routes.js';
import type { MirroredSession } from './session-mirror.js';

export interface RpLogoutOptions {
  dataSource: DataSource;
  bridge: SessionBridge;
  audit: AuditService | undefined;
}

/**
 * RP-initiated logout, once the user confirmed it on the provider's page: the grants it ends
 * (revokeLoggedOut) and, when the user chose to sign out of Gatehouse, Gatehouse's session.
 */
export function rpLogout(provider: Provider, o: RpLogoutOptions): ProviderMiddleware {
  const { bridge } = o;

  /**
   * The grants a sign-out confirmation may end, read before the provider handles it (it then
   * forgets them): per app of the provider session, the grant it got, and the app that asked.
   */
  const grantsOfSession = async (ctx: KoaContextWithOIDC): Promise<{ grants: Map<string, string>; asking: string | undefined }> => {
    const session = (await provider.Session.get(ctx)) as unknown as MirroredSession;
    const grants = new Map<string, string>();
    for (const [clientId, authorization] of Object.entries(session.authorizations ?? {})) {
      if (typeof authorization?.grantId === 'string') grants.set(clientId, authorization.grantId);
    }
    const asking = session.state?.clientId;
    return { grants, asking: typeof asking === 'string' ? asking : undefined };
  };

  /**
   * RP-initiated logout, once the provider accepted the confirmation (its xsrf check passed):
   * signing out revokes the grant of every app of the session, "Stay signed in" that of the
   * app that asked, with offline_access or not (oidc-provider keeps those, Gatehouse grants
   * never outlive the session they were issued in; the back-channel queue cannot do it here,
   * as the provider has already deleted its session). Before the answer: a refresh right
   * after is `invalid_grant`, userinfo refuses the access tokens.
   */
  const revokeLoggedOut = async (
    ctx: KoaContextWithOIDC,
    before: { grants: Map<string, string>; asking: string | undefined },
    everyApp: boolean,
  ): Promise<void> => {
    const ended = [...before.grants].filter(([clientId]) => everyApp || clientId === before.asking);
    for (const [, grantId] of ended) await revokeGrant(o.dataSource, grantId);
    const accountId = ctx.oidc.session?.accountId;
    if (!o.audit || !accountId || ended.length === 0) return;
    await o.audit.record(
      accountEvent(ctx, accountId, 'oidc.logout_grants_revoked', {
        client_id: before.asking ?? null,
        client_ids: ended.map(([clientId]) => clientId),
        signed_out: everyApp,
      }),
    );
  };

  return async (ctx, next) => {
    const confirming = ctx.method === 'POST' && ctx.path === END_SESSION_CONFIRM_PATH;
    const before = confirming ? await grantsOfSession(ctx as KoaContextWithOIDC) : undefined;
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    if (!oidc) return;
    if (before && oidc.route === 'end_session_confirm' && ctx.status === 303) {
      await revokeLoggedOut(ctx as KoaContextWithOIDC, before, Boolean(oidc.params?.logout));
    }
    // RP-initiated logout confirmed on Gatehouse's page ends the Gatehouse session too.
    if (oidc.route === 'end_session_confirm' && ctx.status === 303 && oidc.params?.logout === LOGOUT_CONFIRMED) {
      await bridge.endCurrent(ctx.req, ctx.res, 'oidc_logout');
    }
  };
}
