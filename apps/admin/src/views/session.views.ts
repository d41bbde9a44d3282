import type { OutboxStatus } from '#libs/notifications';
import { alertBox, csrfField, field, html, noticeBox } from '#libs/web';
import { publicPage } from './layout.js';

export function signInPage(o: {
  csrf: string;
  error?: string | undefined;
  notice?: string | undefined;
  email?: string;
  returnTo?: string | undefined;
}): string {
  return publicPage(
    'Sign in to the support console',
    html`${noticeBox(o.notice)}${alertBox(o.error)}
      <form method="post" action="/signin">
        ${csrfField(o.csrf)}${o.returnTo ? html`<input type="hidden" name="return_to" value="${o.returnTo}" />` : ''}
        ${field('Email', 'email', { type: 'email', autocomplete: 'username', value: o.email })}
        ${field('Password', 'password', { type: 'password', autocomplete: 'current-password' })}
        <button type="submit">Sign in</button>
      </form>
      <p class="links"><a href="/setup">Set up your account</a></p>`,
  );
}

export function otpPage(o: { csrf: string; destination: string; delivery: OutboxStatus; error?: string | undefined }): string {
  const status =
    o.delivery === 'sent'
      ? html`<p class="notice" role="status">We sent a 6-digit code by email to ${o.destination}. It is valid for 10 minutes.</p>`
      : o.delivery === 'pending'
        ? html`<p class="notice" role="status">
            We are still sending your code by email to ${o.destination}. If it does not arrive, use "Send a new code".
          </p>`
        : html`<p class="error" role="alert">We could not send the code by email to ${o.destination}.</p>`;
  return publicPage(
    'Enter your one-time code',
    html`${status}${alertBox(o.error)}
      <form method="post" action="/signin/otp">
        ${csrfField(o.csrf)} ${field('One-time code', 'code', { autocomplete: 'one-time-code', inputmode: 'numeric' })}
        <button type="submit" name="action" value="verify">Verify</button>
        <button type="submit" class="secondary" name="action" value="resend">Send a new code</button>
        <button type="submit" class="secondary" name="action" value="restart">Start again</button>
      </form>
      <p class="hint">Gatehouse never sends links in code messages and never asks for your code by phone.</p>`,
  );
}

export function setupPage(o: { csrf: string; error?: string | undefined; fieldErrors?: Record<string, string> | undefined }): string {
  return publicPage(
    'Set up your account',
    html`${alertBox(o.error)}
      <p>
        Enter the setup code from the email you received and choose a password: at least 12 characters and hard to guess (three or four
        uncommon words work well).
      </p>
      <form method="post" action="/setup">
        ${csrfField(o.csrf)}
        ${field('Setup code', 'code', { autocomplete: 'off', errors: o.fieldErrors, hint: 'Five groups of four letters and digits, e.g. K7QF-3XWM-9PDA-H2NC-8TRB.' })}
        ${field('New password', 'password', { type: 'password', autocomplete: 'new-password', errors: o.fieldErrors })}
        ${field('Confirm new password', 'confirm_password', { type: 'password', autocomplete: 'new-password', errors: o.fieldErrors })}
        <button type="submit">Continue</button>
      </form>
      <p class="links"><a href="/signin">Sign in</a></p>`,
  );
}
