import type Provider from 'oidc-provider';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { AuditService } from '#libs/audit';
import { acrOf, amrOf } from '#libs/factors';
import { grantRequested } from '../grants.js';
import type { ProviderMiddleware } from './options.js';
import { accountEvent } from './request-audit.js';
import { OIDC_ROUTES } from './routes.js';
import type { GatehouseSessionOf, MirroredSession } from './session-mirror.js';

/** An authorization request (GET) that may not show any page: `prompt=none`. */
function isSilentAuthorization(ctx: { method: string; path: string; query: Record<string, unknown> }): boolean {
  const prompt = ctx.query.prompt;
  return ctx.method === 'GET' && ctx.path === OIDC_ROUTES.authorization && typeof prompt === 'string' && prompt.split(' ').includes('none');
}

export interface SilentAuthorizationOptions {
  gatehouseSession: GatehouseSessionOf;
  sessionTtl: (session: MirroredSession) => number;
  cookieOptions: { httpOnly: boolean; sameSite: 'lax'; secure: boolean };
  /** Records authorizations answered without an interaction (single sign-on, `prompt=none`). */
  audit: AuditService | undefined;
}

/**
 * Silent authorization: a `prompt=none` request right after a sign-in at Gatehouse first brings
 * the provider session in line (mirrorForSilentRequest), and every authorization the provider
 * answers without an interaction is audited (`oidc.authorized`).
 */
export function silentAuthorization(provider: Provider, o: SilentAuthorizationOptions): ProviderMiddleware {
  const { gatehouseSession, sessionTtl, cookieOptions } = o;

  /**
   * `prompt=none` right after a sign-in at Gatehouse itself: the browser holds a Gatehouse
   * session but no provider session mirrors it yet (that happens in an interaction, which a
   * silent request cannot have). The provider session is brought in line first, under a new
   * id (as after an interaction), and the browser is sent to the same request again; the
   * provider then answers it with its usual checks (max_age, acr_values, ...).
   */
  const mirrorForSilentRequest = async (ctx: KoaContextWithOIDC): Promise<boolean> => {
    const session = await gatehouseSession(ctx);
    const acr = session ? acrOf(session.verifications) : null;
    if (!session || !acr) return false;
    const amr = amrOf(session.verifications);
    const loginTs = Math.floor(session.authTime.getTime() / 1000);
    const mirrored = (await provider.Session.get(ctx)) as unknown as MirroredSession;
    // Another person's provider session is ended through the provider's own logout (an interaction), which tells
    // the apps it signed in to. One with no app left to tell (the logout queue already logged it out while a flow
    // held it, and that flow was abandoned) has nothing to end: it is replaced like any other.
    const anotherPerson = mirrored.accountId !== undefined && mirrored.accountId !== session.userId;
    if (anotherPerson && Object.keys(mirrored.authorizations ?? {}).length > 0) return false;
    if (mirrored.accountId === session.userId && mirrored.loginTs === loginTs && (mirrored.amr ?? []).join(' ') === amr.join(' ')) {
      return false;
    }
    mirrored.loginAccount({ accountId: session.userId, loginTs, amr, acr, transient: true });
    if (!mirrored.new) mirrored.resetIdentifier();
    await mirrored.save(sessionTtl(mirrored));
    ctx.cookies.set(provider.cookieName('session'), mirrored.id, cookieOptions);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(ctx.originalUrl);
    return true;
  };

  // Authorizations answered without an interaction (the interaction controller audits the others).
  const answered = new WeakSet<object>();
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    if (ctx.oidc.route === 'authorization') answered.add(ctx);
  });

  return async (ctx, next) => {
    const silent = isSilentAuthorization(ctx);
    if (silent && (await mirrorForSilentRequest(ctx as KoaContextWithOIDC))) return;
    await next();
    if (!answered.has(ctx) || !o.audit) return;
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    const session = await gatehouseSession(ctx);
    const accountId = oidc.session?.accountId;
    if (!accountId) return;
    await o.audit.record(
      accountEvent(ctx, accountId, 'oidc.authorized', {
        client_id: oidc.client?.clientId,
        session_id: session?.userId === accountId ? session.id : null,
        acr: oidc.acr,
        amr: oidc.amr,
        silent,
      }),
    );
  };
}

/**
 * oidc-provider's `loadExistingGrant`, for first-party single sign-on: a silent request
 * (prompt=none) from a signed-in user gets the scopes it asks for, as an interactive one would
 * from the interaction controller.
 */
export const loadExistingGrant: NonNullable<Configuration['loadExistingGrant']> = async (ctx) => {
  const clientId = ctx.oidc.client!.clientId;
  const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(clientId);
  const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
  const accountId = ctx.oidc.session!.accountId;
  if (ctx.oidc.route !== 'authorization' || !ctx.oidc.prompts.has('none') || !accountId) return existing;
  const grant =
    existing && existing.accountId === accountId && existing.clientId === clientId
      ? existing
      : new ctx.oidc.provider.Grant({ accountId, clientId });
  grantRequested(grant, ctx.oidc.params as Record<string, unknown>, ctx.oidc.client!.scope);
  await grant.save();
  return grant;
};
