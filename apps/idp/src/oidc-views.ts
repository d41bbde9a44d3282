import { LOGOUT_CONFIRMED, type OidcPages } from '#libs/oidc';
import { html, page, raw } from '#libs/web';

/** Errors the provider shows instead of redirecting (e.g. an unregistered redirect_uri): never echo a redirect. */
const ERROR_TEXT: Record<string, string> = {
  invalid_redirect_uri: 'The application sent you to a return address that is not registered with Gatehouse.',
  invalid_client: 'The application that sent you here is not registered with Gatehouse.',
  invalid_request: 'The application sent an incomplete or invalid sign-in request.',
  session_not_found: 'This sign-in request has expired or was already used.',
};

export const oidcPages: OidcPages = {
  error(out) {
    const known = ERROR_TEXT[out.error];
    return page(
      'Sign-in request not accepted',
      html`<p class="error" role="alert">${known ?? 'The application sent a request Gatehouse cannot accept.'}</p>
        <p class="hint">Error: <code>${out.error}</code>${out.error_description ? html` — ${out.error_description}` : ''}</p>
        <p>Go back to the application and try again. If this keeps happening, contact its support.</p>`,
    );
  },
  logout(form, clientName) {
    return page(
      'Sign out',
      html`<p>${clientName ? `${clientName} asks you to sign out.` : 'An application asks you to sign out.'} Sign out of Gatehouse?</p>
        ${raw(form)}
        <button type="submit" form="op.logoutForm" name="logout" value="${LOGOUT_CONFIRMED}">Sign out</button>
        <button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>`,
    );
  },
  loggedOut(clientName) {
    return page(
      'Signed out',
      html`<p class="notice" role="status">You are signed out${clientName ? ` of ${clientName}` : ''}.</p>
        <p><a href="/signin">Sign in again</a></p>`,
    );
  },
};

/**
 * After a sign-in form: the app continues to the provider by a new navigation (the
 * `Refresh` header the controller sets, or this link), not by a redirect of the form post,
 * since browsers apply the sign-in page's `form-action 'self'` to every redirect after a post.
 */
export function continuePage(target: string, clientName: string | undefined, signedIn: boolean): string {
  return page(
    signedIn ? 'Signed in' : 'Returning to the application',
    html`<p class="notice" role="status">${signedIn ? 'You are signed in. ' : ''}Returning to ${clientName ?? 'the application'}…</p>
      <p><a href="${target}" id="continue">Continue</a></p>`,
  );
}

export function cancelPage(clientName: string | undefined, action: string, csrf: string): string {
  return page(
    'Cancel sign-in',
    html`<p>Stop signing in to ${clientName ?? 'the application'}? You will be sent back without being signed in.</p>
      <form method="post" action="${action}">
        <input type="hidden" name="csrf" value="${csrf}" />
        <button type="submit">Cancel sign-in</button>
      </form>`,
  );
}

/** A link back out of a sign-in started by an application (shown on the sign-in and code pages). */
export function interactionCancelLink(returnTo: string | undefined): ReturnType<typeof html> {
  const uid = returnTo ? /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:[?/]|$)/u.exec(returnTo)?.[1] : undefined;
  return uid ? html`<p class="links"><a href="/interaction/${uid}/abort">Cancel and return to the application</a></p>` : html``;
}
