import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ProviderMiddleware } from './options.js';

/** Adds origins a provider page may send the browser to (form posts, or the redirect after one) to its CSP `form-action`. */
export function allowFormAction(ctx: KoaContextWithOIDC, uris: Array<string | undefined>): void {
  const csp = ctx.response.get('content-security-policy');
  if (!csp) return;
  const origins = uris.flatMap((u) => {
    const parsed = u ? URL.parse(u) : null;
    return parsed && (parsed.protocol === 'https:' || parsed.protocol === 'http:') ? [parsed.origin] : [];
  });
  if (origins.length === 0) return;
  const directives = csp.split(';').map((d) => d.trim());
  const i = directives.findIndex((d) => d.startsWith('form-action'));
  if (i === -1) return;
  directives[i] = [directives[i], ...origins.filter((o) => !directives[i]!.split(/\s+/u).includes(o))].join(' ');
  ctx.set('content-security-policy', directives.join(';'));
}

/** Once the provider answered: a page of its own with a form may send the browser where that form goes (allowFormAction). */
export function providerFormActions(provider: Provider): ProviderMiddleware {
  return async (ctx, next) => {
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    if (!oidc) return;
    // Provider pages with a form: form_post answers post to the client's registered redirect
    // URI; logout forms end in a redirect to its registered post-logout URI (the provider
    // drops one that is not registered). Browsers apply form-action to that redirect too.
    // When another person signed in, resuming first ends the provider session of the previous
    // one by a self-submitting form that comes back to resume, which then redirects to the client.
    if (!ctx.response.is('html')) return;
    const interaction = oidc.entities.Interaction?.params;
    const client =
      oidc.client ??
      (oidc.route === 'resume' && typeof interaction?.client_id === 'string'
        ? await provider.Client.find(interaction.client_id)
        : undefined);
    if (!client) return;
    const params = oidc.route === 'resume' ? { ...interaction, ...oidc.params } : (oidc.params ?? {});
    const targets: string[] = [];
    const { redirect_uri: redirectUri, post_logout_redirect_uri: postLogout } = params;
    if (typeof redirectUri === 'string' && client.redirectUriAllowed(redirectUri)) targets.push(redirectUri);
    if (oidc.route === 'end_session' && typeof postLogout === 'string' && client.postLogoutRedirectUriAllowed(postLogout)) {
      targets.push(postLogout);
    }
    allowFormAction(ctx as KoaContextWithOIDC, targets);
  };
}
