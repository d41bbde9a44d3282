import type { ContactOutcome, StepUpOutcome } from '#libs/account';
import type { OtpChannel } from '#libs/identity';
import type { StepError } from '#libs/otp';
import { html, page, type SafeHtml } from '#libs/web';
import { interactionCancelLink } from './oidc-views.js';
import { CHANNEL_LABEL, csrfField, errorBox, input, masked, otpPage, type OtpPageOptions } from './views.js';

/**
 * Pages of the signed-in account changes (password, security code, mobile, email) and of
 * the step-up that guards them. Plain forms, no script; each carries the session's CSRF
 * token, and a flow in progress rides in a hidden `flow` field (it is also bound to the
 * session, so the field alone is worth nothing).
 */

export type AccountChange = 'password' | 'security_code' | 'mobile' | 'email';

/** Where each change lives, and what it is called in text. */
export const CHANGES: Record<AccountChange, { path: string; what: string; title: string }> = {
  password: { path: '/account/password', what: 'your password', title: 'Change password' },
  security_code: { path: '/account/security-code', what: 'your security code', title: 'Change security code' },
  mobile: { path: '/account/mobile', what: 'your mobile number', title: 'Change mobile number' },
  email: { path: '/account/email', what: 'your email address', title: 'Change email' },
};

/** Shown on the account page after a change. */
export const CHANGE_NOTICES: Record<string, string> = {
  password_changed:
    'Your password was changed. Your other sessions were signed out, and every remembered device will need a one-time code.',
  security_code_changed:
    'Your security code was changed. Your other sessions were signed out, and every remembered device will need a one-time code.',
  mobile_changed: 'Your mobile number was verified and saved.',
  mobile_removed: 'Your mobile number was removed. Codes now come by email.',
  email_changed: 'Your email address was verified and saved. We told your previous address about the change.',
};

function channelChoice(channels: OtpChannel[], selected: OtpChannel, legend: string, errors?: Record<string, string>): SafeHtml {
  return html`<fieldset>
    <legend>${legend}</legend>
    ${channels.map(
      (c) =>
        html`<input type="radio" id="ch-${c}" name="channel" value="${c}" ${c === selected ? html` checked` : ''} /><label for="ch-${c}"
            >${CHANNEL_LABEL[c]}</label
          >`,
    )}${errors?.channel ? html`<p class="field-error" id="channel-error">${errors.channel}</p>` : ''}
  </fieldset>`;
}

const backLink = html`<p class="links"><a href="/account">Back to your account</a></p>`;

/**
 * The step-up's first step: why a code is needed, and by which channel. Sending is a POST,
 * so opening the page never sends anything.
 */
export function stepUpPage(
  outcome: StepUpOutcome,
  contacts: { email: string; mobile: string | null },
  change: AccountChange | null,
  csrf: string,
): string {
  const s = outcome.state;
  if (s.step === 'done') throw new Error('the step-up is done');
  const destinations = destinationsOf(s.channels, contacts);
  // Asked by an application (OIDC step-up, loa:2): cancelling goes back to it with access_denied.
  const forApp = s.returnTo.startsWith('/interaction/');
  const cancel = forApp ? interactionCancelLink(s.returnTo) : html`<p class="links"><a href="/account">Cancel</a></p>`;
  if (s.step === 'otp') {
    return flowCodePage(outcome, s, destinations, '/account/step-up', 'Confirm it is you', csrf, {
      extra: html`<input type="hidden" name="return_to" value="${s.returnTo}" /> ${cancel}`,
    });
  }
  const what = change ? CHANGES[change].what : 'your account details';
  const why = forApp
    ? html`<p>The application asks you to confirm it is you with a one-time code before you continue.</p>`
    : html`<p>Before you change ${what}, confirm it is you with a one-time code. You will not be asked again for the next few minutes.</p>`;
  return page(
    'Confirm it is you',
    html`${errorBox(outcome.error)} ${why}
      <form method="post" action="/account/step-up">
        ${csrfField(csrf)}<input type="hidden" name="return_to" value="${s.returnTo}" />
        ${
          s.channels.length > 1
            ? html`${channelChoice(s.channels, s.preferred, 'How should we send your code?')}
                <p class="hint">${s.channels.map((c) => `${CHANNEL_LABEL[c]}: ${destinations[c] ?? ''}`).join(' · ')}</p>`
            : html`<p class="hint">We will send the code by email to ${destinations.email ?? ''}.</p>`
        }
        <button type="submit" name="action" value="send">Send code</button>
      </form>
      ${forApp ? cancel : backLink}`,
  );
}

type Shown = { error?: StepError; fieldErrors?: Record<string, string> };

/** The form of a password or a security code change: the current password, then the new one (`fields`), twice. */
function credentialPage(change: 'password' | 'security_code', csrf: string, outcome: Shown | undefined, fields: SafeHtml): string {
  const { path, title } = CHANGES[change];
  return page(
    title,
    html`${errorBox(outcome?.error)}
      <form method="post" action="${path}">
        ${csrfField(csrf)}
        ${input('Current password', 'current_password', { type: 'password', autocomplete: 'current-password', errors: outcome?.fieldErrors })}
        ${fields}
        <p class="hint">Your other sessions will be signed out, and remembered devices will need a one-time code again.</p>
        <button type="submit">${title}</button>
      </form>
      ${backLink}`,
  );
}

export function passwordPage(csrf: string, outcome?: Shown): string {
  const e = outcome?.fieldErrors;
  return credentialPage(
    'password',
    csrf,
    outcome,
    html`${input('New password', 'new_password', {
      type: 'password',
      autocomplete: 'new-password',
      errors: e,
      hint: 'At least 12 characters and hard to guess: three or four uncommon words work well. Not a common or leaked password, and not built from your name, your IDs or your organization.',
    })}
    ${input('Confirm new password', 'confirm_password', { type: 'password', autocomplete: 'new-password', errors: e })}`,
  );
}

export function securityCodePage(csrf: string, length: { min: number; max: number }, outcome?: Shown): string {
  const e = outcome?.fieldErrors;
  const digits = length.min === length.max ? `${length.min}` : `${length.min} to ${length.max}`;
  const code = { type: 'password', inputmode: 'numeric', autocomplete: 'off', errors: e };
  return credentialPage(
    'security_code',
    csrf,
    outcome,
    html`${input('New security code', 'security_code', { ...code, hint: `${digits} digits. You will need it to recover your account.` })}
    ${input('Confirm new security code', 'confirm_security_code', code)}`,
  );
}

export function mobilePage(
  csrf: string,
  current: { mobile: string | null; verified: boolean },
  outcome?: { error?: StepError; fieldErrors?: Record<string, string> },
  values: { mobile?: string; channel?: OtpChannel } = {},
): string {
  const e = outcome?.fieldErrors;
  return page(
    current.mobile ? 'Change mobile number' : 'Add a mobile number',
    html`${errorBox(outcome?.error)}
      <p>
        ${
          current.mobile
            ? `Your mobile number is ${current.mobile}${current.verified ? '' : ' (not verified)'}.`
            : 'There is no mobile number on your account.'
        }
        A verified mobile number lets you receive codes by text message or voice call.
      </p>
      <form method="post" action="/account/mobile">
        ${csrfField(csrf)}
        ${input('New mobile number', 'mobile', {
          type: 'tel',
          autocomplete: 'tel',
          errors: e,
          ...(values.mobile !== undefined ? { value: values.mobile } : {}),
          hint: 'International format, for example +39 333 123 4567. We send a code to it; it is saved once you enter that code.',
        })}
        ${channelChoice(['sms', 'voice'], values.channel ?? 'sms', 'How should we send the code?', e)}
        <button type="submit" name="action" value="send">Send code</button>
      </form>
      ${
        current.mobile
          ? html`<form method="post" action="/account/mobile">
              ${csrfField(csrf)}
              <button type="submit" class="secondary" name="action" value="remove">Remove mobile number</button>
            </form>`
          : ''
      }
      ${backLink}`,
  );
}

export function emailPage(
  csrf: string,
  current: string,
  outcome?: { error?: StepError; fieldErrors?: Record<string, string> },
  value?: string,
): string {
  return page(
    'Change email',
    html`${errorBox(outcome?.error)}
      <p>Your email address is ${current}.</p>
      <form method="post" action="/account/email">
        ${csrfField(csrf)}
        ${input('New email', 'email', {
          type: 'email',
          autocomplete: 'email',
          errors: outcome?.fieldErrors,
          ...(value !== undefined ? { value } : {}),
          hint: 'We send a code to the new address; it is saved once you enter that code. We also tell your current address.',
        })}
        <button type="submit">Send code</button>
      </form>
      ${backLink}`,
  );
}

/** The code step for a new mobile number or email address: the same page as at sign-in. */
export function contactCodePage(outcome: ContactOutcome, csrf: string): string {
  const s = outcome.state;
  if (!s || s.step !== 'otp') throw new Error('not a code step');
  const destinations: Partial<Record<OtpChannel, string>> = {};
  for (const c of s.channels) destinations[c] = masked(c, s.destination);
  const mobile = s.kind === 'mobile';
  return flowCodePage(
    outcome,
    s,
    destinations,
    mobile ? '/account/mobile/verify' : '/account/email/verify',
    mobile ? 'Verify your new mobile number' : 'Verify your new email address',
    csrf,
    { extra: html`<p class="links"><a href="/account">Cancel</a></p>` },
  );
}

/** The code step of a flow of the account (step-up, contact change): the sign-in's code page, the flow in a hidden field. */
function flowCodePage(
  outcome: { handle?: { id: string; token: string } | null; delivery?: OtpPageOptions['delivery']; error?: StepError },
  step: { channels: OtpChannel[]; channel: OtpChannel },
  destinations: Partial<Record<OtpChannel, string>>,
  action: string,
  title: string,
  csrf: string,
  buttons: { extra: SafeHtml },
): string {
  return otpPage({
    channels: step.channels,
    current: step.channel,
    destinations,
    delivery: outcome.delivery,
    error: outcome.error,
    action,
    rememberAllowed: false,
    title,
    csrf,
    extraButtons: html`${flowField(outcome.handle)} ${buttons.extra}`,
  });
}

/** The account page's section with the changes. */
export function accountChangesSection(user: { mobile: string | null }): SafeHtml {
  return html`<section aria-labelledby="h-credentials">
    <h2 id="h-credentials">Sign-in and recovery</h2>
    <p class="hint">For these changes we first ask for a one-time code, unless you entered one in the last few minutes.</p>
    <ul>
      <li><a href="${CHANGES.password.path}">${CHANGES.password.title}</a></li>
      <li><a href="${CHANGES.security_code.path}">${CHANGES.security_code.title}</a></li>
      <li>
        <a href="${CHANGES.mobile.path}">${CHANGES.mobile.title}</a
        >${user.mobile ? '' : ' (none yet: add one to receive codes by text message or voice call)'}
      </li>
      <li><a href="${CHANGES.email.path}">${CHANGES.email.title}</a></li>
    </ul>
  </section>`;
}

function flowField(handle: { id: string; token: string } | null | undefined): SafeHtml {
  return handle ? html`<input type="hidden" name="flow" value="${handle.id}.${handle.token}" />` : html``;
}

function destinationsOf(channels: OtpChannel[], contacts: { email: string; mobile: string | null }): Partial<Record<OtpChannel, string>> {
  const out: Partial<Record<OtpChannel, string>> = {};
  for (const c of channels) out[c] = masked(c, c === 'email' ? contacts.email : (contacts.mobile ?? ''));
  return out;
}
