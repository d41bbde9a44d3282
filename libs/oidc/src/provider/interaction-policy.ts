import { interactionPolicy } from 'oidc-provider';
import type { Clock } from '#libs/core';
import { amrOf } from '#libs/factors';
import { acrFallsShort, parseAuthRequest } from '../acr.js';
import type { OidcProviderOptions } from './options.js';
import type { GatehouseSessionOf } from './session-mirror.js';

/**
 * oidc-provider's interaction policy with Gatehouse's login checks: the provider's session must
 * mirror the live Gatehouse session, meet the requested level of assurance and max_age (with
 * Gatehouse's clock), and, where the organization requires them, the session's emergency
 * contacts must be answered first.
 */
export function gatehouseInteractionPolicy(
  clock: Clock,
  gatehouseSession: GatehouseSessionOf,
  contactsPending: OidcProviderOptions['contactsPending'],
): ReturnType<typeof interactionPolicy.base> {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  const { Check } = interactionPolicy;
  // The provider's session mirrors Gatehouse's: no live Gatehouse session, another user, or
  // another authentication (new sign-in, added verification) means a new login result.
  login.checks.add(
    new Check('gatehouse_session', 'the Gatehouse session ended or changed', 'login_required', async (ctx) => {
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const session = await gatehouseSession(ctx);
      const mirrored = ctx.oidc.session;
      if (!session || !mirrored?.accountId) return Check.REQUEST_PROMPT;
      if (session.userId !== mirrored.accountId) return Check.REQUEST_PROMPT;
      if (Math.floor(session.authTime.getTime() / 1000) !== mirrored.authTime()) return Check.REQUEST_PROMPT;
      if (amrOf(session.verifications).join(' ') !== (mirrored.amr ?? []).join(' ')) return Check.REQUEST_PROMPT;
      return Check.NO_NEED_TO_PROMPT;
    }),
    0,
  );
  // acr_values are voluntary in OIDC; Gatehouse treats a first-choice loa:2 as a requirement (CONTRACT).
  login.checks.add(
    new Check('gatehouse_acr', 'the requested level of assurance is not met', 'login_required', (ctx) => {
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      return acrFallsShort(parseAuthRequest(ctx.oidc.params as Record<string, unknown>), ctx.oidc.acr)
        ? Check.REQUEST_PROMPT
        : Check.NO_NEED_TO_PROMPT;
    }),
  );
  // max_age measured with Gatehouse's clock (the built-in check keeps oidc-provider's).
  login.checks.add(
    new Check('gatehouse_max_age', 'the authentication is older than max_age', 'login_required', (ctx) => {
      if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
      const { maxAge } = parseAuthRequest(ctx.oidc.params as Record<string, unknown>);
      const authTime = ctx.oidc.session?.authTime();
      if (maxAge === undefined || typeof authTime !== 'number') return Check.NO_NEED_TO_PROMPT;
      return clock.now().getTime() - authTime * 1000 > maxAge * 1000 ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
  // Required emergency contacts neither verified nor postponed in this session: an interaction first (the interstitial).
  if (contactsPending) {
    login.checks.add(
      new Check('gatehouse_contacts', 'required emergency contacts are not verified', 'interaction_required', async (ctx) => {
        if (ctx.oidc.result?.login) return Check.NO_NEED_TO_PROMPT;
        const session = await gatehouseSession(ctx);
        return session && (await contactsPending(session.userId, session.id)) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
      }),
    );
  }
  return policy;
}
