import type { OtpChannel } from '#libs/identity';
import { GENERIC_CODE_SENT, type RecoveryGoal, type RecoveryOutcome } from '#libs/recovery';
import { html, page } from '#libs/web';
import { csrfField, errorBox, input, otpPage } from './views.js';

/** Hosted recovery pages. Labels are the contract's: Email, Enterprise ID, Security code, New password, Confirm new password. */

export const RECOVERY_PATHS: Record<RecoveryGoal, string> = { enterprise_id: '/recover/enterprise-id', password: '/recover/password' };

const SECURITY_CODE_HINT = 'The 6 to 9 digits you chose when you set up your Enterprise ID. Without it, contact your support team.';

function identifyPage(outcome: Omit<RecoveryOutcome, 'handle'>, csrf: string): string {
  const errors = outcome.fieldErrors;
  const securityCode = input('Security code', 'security_code', {
    type: 'password',
    inputmode: 'numeric',
    autocomplete: 'off',
    hint: SECURITY_CODE_HINT,
    errors,
  });
  if (outcome.goal === 'enterprise_id') {
    return page(
      'Forgot your Enterprise ID?',
      html`${errorBox(outcome.error)}
        <p>Enter the email address of your account and your security code. We will send a one-time code to that email address.</p>
        <form method="post" action="${RECOVERY_PATHS.enterprise_id}">
          ${csrfField(csrf)} ${input('Email', 'email', { type: 'email', autocomplete: 'email', errors })} ${securityCode}
          <button type="submit">Continue</button>
        </form>
        <p class="links"><a href="/signin">Back to sign-in</a></p>`,
    );
  }
  return page(
    'Forgot your password?',
    html`${errorBox(outcome.error)}
      <p>Enter your Enterprise ID and your security code. We will send you a one-time code, then you can choose a new password.</p>
      <form method="post" action="${RECOVERY_PATHS.password}">
        ${csrfField(csrf)} ${input('Enterprise ID', 'enterprise_id', { autocomplete: 'username', errors })} ${securityCode}
        <button type="submit">Continue</button>
      </form>
      <p class="links">
        <a href="${RECOVERY_PATHS.enterprise_id}">Forgot your Enterprise ID too?</a><a href="/signin">Back to sign-in</a>
      </p>`,
  );
}

/** The one-time code step: generic (nothing about the account), or with the accepted user's channels. */
function codePage(outcome: Omit<RecoveryOutcome, 'handle'>, csrf: string): string {
  if (outcome.step === 'code_sent') {
    const rendered = otpPage({
      channels: ['email'],
      current: 'email',
      destinations: {},
      error: outcome.error,
      action: '/recover/otp',
      rememberAllowed: false,
      title: 'Enter your one-time code',
      csrf,
    });
    // otpPage has no slot for a notice of its own; the generic one goes right under the title.
    return rendered.replace('</h1>', `</h1>${html`<p class="notice" role="status">${GENERIC_CODE_SENT}</p>`.value}`);
  }
  const destinations: Partial<Record<OtpChannel, string>> = {};
  for (const c of outcome.channels ?? []) destinations[c.channel] = c.destination;
  return otpPage({
    channels: (outcome.channels ?? []).map((c) => c.channel),
    current: outcome.step === 'otp' ? (outcome.channel ?? null) : null,
    ...(outcome.preferred ? { preferred: outcome.preferred } : {}),
    destinations,
    delivery: outcome.delivery,
    error: outcome.error,
    action: '/recover/otp',
    rememberAllowed: false,
    title: outcome.step === 'choose_channel' ? 'How should we send your code?' : 'Enter your one-time code',
    csrf,
  });
}

/** The page of a recovery step (the first one may have no flow yet: its form token is `csrf`). */
export function recoveryPage(outcome: Omit<RecoveryOutcome, 'handle'>, csrf: string): string {
  switch (outcome.step) {
    case 'identify':
      return identifyPage(outcome, csrf);
    case 'code_sent':
    case 'choose_channel':
    case 'otp':
      return codePage(outcome, csrf);
    case 'enterprise_id':
      return page(
        'Your Enterprise ID',
        html`<p class="notice" role="status">Your Enterprise ID is <strong id="enterprise-id">${outcome.enterpriseId ?? ''}</strong></p>
          <p>We also sent it to your email address. Sign in with it and your password.</p>
          <p class="links"><a href="/signin">Sign in</a></p>
          <form method="post" action="/recover/continue">
            ${csrfField(csrf)}
            <p>Forgot your password too? You can choose a new one now, without entering your security code again.</p>
            <button type="submit" class="secondary">Choose a new password</button>
          </form>`,
      );
    case 'new_password': {
      const errors = outcome.fieldErrors;
      return page(
        'Choose a new password',
        html`${errorBox(outcome.error)}
          <form method="post" action="/recover/new-password">
            ${csrfField(csrf)}
            ${input('New password', 'password', { type: 'password', autocomplete: 'new-password', errors, hint: 'At least 12 characters and hard to guess: three or four uncommon words work well. Not a common or leaked password, not built from your name, your IDs or your organization, nor your current password.' })}
            ${input('Confirm new password', 'confirm_password', { type: 'password', autocomplete: 'new-password', errors })}
            <button type="submit">Change password</button>
          </form>
          <p class="hint">Once it is changed, every device and every session must sign in again.</p>`,
      );
    }
    case 'done':
      return page(
        'Password changed',
        html`<p class="notice" role="status">Your password was changed.</p>
          <p>
            You were signed out everywhere, and every remembered device will ask for a one-time code again. We sent a confirmation to your
            email address.
          </p>
          <p class="links"><a href="/signin">Sign in</a></p>`,
      );
  }
}
