import type { SignedInSession } from '#libs/account';
import { html, type SafeHtml } from '#libs/web';
import { csrfField, rowButton } from './views.js';

const date = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

/**
 * The account page's "Sessions" section: where the person is signed in (browser from the
 * User-Agent, address, when signed in and last seen, the apps it signed in to), each with a
 * "Sign out" form, and "Sign out everywhere". Plain forms with the session's CSRF token.
 */
export function sessionsSection(sessions: readonly SignedInSession[], csrf: string): SafeHtml {
  return html`<section aria-labelledby="h-sessions">
    <h2 id="h-sessions">Sessions</h2>
    <p class="hint">Where you are signed in. Signing a session out also signs it out of the applications it signed in to.</p>
    <table>
      <thead>
        <tr>
          <th scope="col">Browser</th>
          <th scope="col">Address</th>
          <th scope="col">Signed in</th>
          <th scope="col">Last seen</th>
          <th scope="col">Applications</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${sessions.map(
          (s) =>
            html`<tr>
              <td>${s.device}${s.current ? ' (this session)' : ''}</td>
              <td>${s.ip ?? 'unknown'}</td>
              <td>${date(s.signedInAt)}</td>
              <td>${date(s.lastSeenAt)}</td>
              <td>${s.apps.length ? s.apps.join(', ') : 'none'}</td>
              <td>
                ${rowButton(
                  '/account/sessions/sign-out',
                  csrf,
                  { name: 'session_id', value: s.id },
                  'Sign out',
                  `Sign out ${s.device}${s.current ? ' (this session)' : ''}, signed in ${date(s.signedInAt)}`,
                )}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
    <form method="post" action="/account/sessions/sign-out-everywhere">
      ${csrfField(csrf)}<button type="submit" class="secondary">Sign out everywhere</button>
    </form>
  </section>`;
}
