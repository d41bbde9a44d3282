import { maskEmail, maskPhone, type StepError } from '#libs/otp';
import type { OtpChannel } from '#libs/identity';
import type { RememberedDevice } from '#libs/sessions';
import type { EnrollmentOutcome, SignInOutcome } from '#libs/signin';
import { html, page, type SafeHtml } from '#libs/web';
import { interactionCancelLink } from './oidc-views.js';

/* The pieces of the IdP's forms, for every page (sign-in, enrollment, recovery, the account's changes). */

export const CHANNEL_LABEL: Record<OtpChannel, string> = { email: 'Email', sms: 'Text message', voice: 'Voice call' };

/** A form's CSRF token (the session's or the flow's, or a start page's sealed form token). */
export const csrfField = (csrf: string): SafeHtml => html`<input type="hidden" name="csrf" value="${csrf}" />`;

/** The form's error, announced. */
export function errorBox(error: StepError | undefined): SafeHtml {
  return error ? html`<p class="error" role="alert" id="form-error">${error.message}</p>` : html``;
}

function fieldError(errors: Record<string, string> | undefined, name: string): SafeHtml {
  const message = errors?.[name];
  return message ? html`<p class="field-error" id="${name}-error">${message}</p>` : html``;
}

/** A labelled input with its hint and its field error (`errors[name]`, tied to it by aria-describedby). */
export function input(
  label: string,
  name: string,
  options: {
    type?: string;
    value?: string;
    autocomplete?: string;
    readonly?: boolean;
    errors?: Record<string, string> | undefined;
    hint?: string;
    inputmode?: string;
  },
): SafeHtml {
  const id = `f-${name}`;
  const described = options.errors?.[name] ? `${name}-error` : undefined;
  return html`<label for="${id}">${label}</label>
    <input
      id="${id}"
      name="${name}"
      type="${options.type ?? 'text'}"
      ${options.value !== undefined ? html` value="${options.value}"` : ''}${
        options.autocomplete ? html` autocomplete="${options.autocomplete}"` : ''
      }${options.inputmode ? html` inputmode="${options.inputmode}"` : ''}${options.readonly ? html` readonly` : ''}${described ? html` aria-describedby="${described}" aria-invalid="true"` : ''}
    />
    ${options.hint ? html`<p class="hint">${options.hint}</p>` : ''}${fieldError(options.errors, name)}`;
}

/** The enrollment service names fields in camelCase (`enterpriseId`); the form names them in snake_case (`enterprise_id`). */
export function formFieldErrors(errors: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!errors) return undefined;
  const out: Record<string, string> = {};
  for (const [key, message] of Object.entries(errors)) out[key.replace(/[A-Z]/gu, (c) => `_${c.toLowerCase()}`)] = message;
  return out;
}

export function masked(channel: OtpChannel, destination: string): string {
  return channel === 'email' ? maskEmail(destination) : maskPhone(destination);
}

/** The User ID and password form; `csrf` is its token (a sign-in form's sealed token, or a flow's CSRF token). */
export function signInPage(outcome: Pick<SignInOutcome, 'state' | 'error'> | null, csrf: string, notice?: string): string {
  const error = outcome?.error;
  return page(
    'Sign in',
    html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}${errorBox(error)}
      <form method="post" action="/signin">
        ${csrfField(csrf)} ${input('User ID', 'user_id', { autocomplete: 'username' })}
        ${input('Password', 'password', { type: 'password', autocomplete: 'current-password' })}
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">Your User ID is your Enterprise ID, or your previous user ID if you have not set up an Enterprise ID yet.</p>
      <p class="links"><a href="/recover/enterprise-id">Forgot Enterprise ID?</a><a href="/recover/password">Forgot password?</a></p>
      ${interactionCancelLink(outcome?.state.returnTo)}`,
  );
}

export interface OtpPageOptions {
  channels: OtpChannel[];
  current: OtpChannel | null;
  /** The channel selected when none was sent yet (the user's last choice). */
  preferred?: OtpChannel;
  destinations: Partial<Record<OtpChannel, string>>;
  delivery?: 'sent' | 'pending' | 'failed' | undefined;
  error?: StepError | undefined;
  action: string;
  rememberAllowed: boolean;
  title?: string;
  csrf: string;
  extraButtons?: SafeHtml;
}

function deliveryNotice(channel: OtpChannel | null, destination: string | undefined, delivery: OtpPageOptions['delivery']): SafeHtml {
  if (!channel || !destination) return html``;
  const how = channel === 'email' ? 'by email to' : channel === 'sms' ? 'by text message to' : 'by voice call to';
  if (delivery === 'sent')
    return html`<p class="notice" role="status">We sent a 6-digit code ${how} ${destination}. It is valid for 10 minutes.</p>`;
  if (delivery === 'pending')
    return html`<p class="notice" role="status">
      We are still sending your code ${how} ${destination}. If it does not arrive, use "Send a new code".
    </p>`;
  if (delivery === 'failed') return html`<p class="error" role="alert">We could not send the code ${how} ${destination}.</p>`;
  return html``;
}

/** The one-time code step, shared by sign-in, enrollment and verification. */
export function otpPage(o: OtpPageOptions): string {
  const choice =
    o.channels.length > 1
      ? html`<fieldset>
          <legend>How should we send your code?</legend>
          ${o.channels.map(
            (c) =>
              html`<input
                  type="radio"
                  id="ch-${c}"
                  name="channel"
                  value="${c}"
                  ${c === (o.current ?? o.preferred ?? o.channels[0]) ? html` checked` : ''}
                /><label for="ch-${c}">${CHANNEL_LABEL[c]}</label>`,
          )}
          <p class="hint">${o.channels.map((c) => `${CHANNEL_LABEL[c]}: ${o.destinations[c] ?? ''}`).join(' · ')}</p>
        </fieldset>`
      : html``;
  const codeForm = o.current
    ? html`${input('One-time code', 'code', { autocomplete: 'one-time-code', inputmode: 'numeric' })}
        ${o.rememberAllowed ? html`<p><input type="checkbox" id="f-remember" name="remember" value="on" /><label class="inline" for="f-remember">Remember this device</label></p>` : ''}
        <button type="submit" name="action" value="verify">Verify</button>`
    : html``;
  return page(
    o.title ?? 'Enter your one-time code',
    html`${deliveryNotice(o.current, o.current ? o.destinations[o.current] : undefined, o.delivery)}${errorBox(o.error)}
      <form method="post" action="${o.action}">
        ${csrfField(o.csrf)} ${choice}${codeForm}
        <button type="submit" class="secondary" name="action" value="resend">Send a new code</button>
        ${o.extraButtons ?? ''}
      </form>
      <p class="hint">Gatehouse never sends links in code messages and never asks for your code by phone.</p>`,
  );
}

export function signInOtpPage(
  outcome: SignInOutcome,
  csrf: string,
  userContacts: { email: string; mobile: string | null },
  rememberAllowed: boolean,
): string {
  const state = outcome.state;
  if (state.step !== 'choose_channel' && state.step !== 'otp') throw new Error('not an OTP step');
  const destinations: Partial<Record<OtpChannel, string>> = {};
  for (const c of state.channels) destinations[c] = masked(c, c === 'email' ? userContacts.email : (userContacts.mobile ?? ''));
  return otpPage({
    channels: state.channels,
    current: state.step === 'otp' ? state.channel : null,
    preferred: state.preferred,
    destinations,
    delivery: outcome.delivery,
    error: outcome.error,
    action: '/signin/otp',
    rememberAllowed,
    csrf,
    extraButtons: html`<button type="submit" class="secondary" name="action" value="restart">Start over</button>
      ${interactionCancelLink(state.returnTo)}`,
  });
}

export function enrollmentPage(outcome: EnrollmentOutcome, csrf: string, extra: { mobile?: string } = {}): string {
  const s = outcome.state;
  const p = outcome.prefill;
  switch (s.step) {
    case 'confirm':
      return page(
        'Confirm your details',
        html`${errorBox(outcome.error)}
          <p>Welcome. Before you create your Enterprise ID, check the details we have for you.</p>
          <form method="post" action="/enroll/confirm">
            ${csrfField(csrf)} ${input('First name', 'first_name', { value: p?.firstName ?? '', readonly: true })}
            ${input('Last name', 'last_name', { value: p?.lastName ?? '', readonly: true })}
            ${input('Email', 'email', { value: p?.email ?? '', readonly: true })}
            <button type="submit" name="action" value="confirm">This is correct</button>
            <label for="f-message">If something is wrong, tell us what</label>
            <textarea id="f-message" name="message" rows="3" maxlength="1000"></textarea>${fieldError(outcome.fieldErrors, 'message')}
            <button type="submit" class="secondary" name="action" value="report">Report incorrect data</button>
          </form>`,
      );
    case 'reported':
      return page(
        'Thank you',
        html`<p role="status">
            We have passed your correction to our support team. They will correct your details and let you know by email.
          </p>
          <p>
            You can sign in again with your current user ID and password once your details are corrected. For help, contact your program's
            support desk.
          </p>`,
      );
    case 'credentials': {
      const len = outcome.securityCodeLength ?? { min: 6, max: 9 };
      const e = formFieldErrors(outcome.fieldErrors);
      return page(
        'Create your Enterprise ID',
        html`${errorBox(outcome.error)}
          <form method="post" action="/enroll/credentials">
            ${csrfField(csrf)}
            ${input('Enterprise ID', 'enterprise_id', { autocomplete: 'username', errors: e, hint: '3 to 64 letters, digits, dots, underscores or hyphens. You will sign in with it.' })}
            ${input('New password', 'password', { type: 'password', autocomplete: 'new-password', errors: e, hint: 'At least 12 characters and hard to guess: three or four uncommon words work well. Not a common or leaked password, and not built from your name, your IDs or your organization.' })}
            ${input('Confirm new password', 'confirm_password', { type: 'password', autocomplete: 'new-password', errors: e })}
            ${input('Security code', 'security_code', { type: 'password', inputmode: 'numeric', autocomplete: 'off', errors: e, hint: `${len.min === len.max ? len.min : `${len.min} to ${len.max}`} digits. You will need it to recover your account.` })}
            ${input('Confirm security code', 'confirm_security_code', { type: 'password', inputmode: 'numeric', autocomplete: 'off', errors: e })}
            ${input('Mobile number (optional)', 'mobile', { type: 'tel', autocomplete: 'tel', errors: e, hint: 'International format, for example +39 333 123 4567. Lets you receive codes by text message or voice call once verified.' })}
            <button type="submit">Continue</button>
          </form>`,
      );
    }
    case 'email_otp':
      return otpPage({
        channels: ['email'],
        current: 'email',
        destinations: { email: maskEmail(p?.email ?? '') },
        delivery: outcome.delivery,
        error: outcome.error,
        action: '/enroll/otp',
        rememberAllowed: false,
        title: 'Verify your email',
        csrf,
      });
    case 'mobile_otp':
      return otpPage({
        channels: ['sms', 'voice'],
        current: s.channel ?? 'sms',
        destinations: { sms: maskPhone(extra.mobile ?? s.mobile), voice: maskPhone(extra.mobile ?? s.mobile) },
        delivery: outcome.delivery,
        error: outcome.error,
        action: '/enroll/mobile',
        rememberAllowed: false,
        title: 'Verify your mobile number',
        csrf,
        extraButtons: html`<button type="submit" class="secondary" name="action" value="skip">Verify later</button>`,
      });
    case 'done':
      return page(
        'All set',
        html`<p role="status">Your Enterprise ID is ready.</p>
          <p><a href="${s.returnTo}">Continue</a></p>`,
      );
  }
}

export function accountPage(
  user: {
    enterpriseId: string;
    firstName: string;
    lastName: string;
    email: string;
    emailVerified: boolean;
    mobile: string | null;
    mobileVerified: boolean;
  },
  devices: RememberedDevice[],
  currentDeviceId: string | null,
  csrf: string,
  notice?: string,
  /** More sections, before the sign-out button (e.g. the credential changes). */
  more?: SafeHtml,
): string {
  const date = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return page(
    'Your account',
    html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
      <section aria-labelledby="h-profile">
        <h2 id="h-profile">Profile</h2>
        <table>
          <tbody>
            <tr>
              <th scope="row">Enterprise ID</th>
              <td>${user.enterpriseId}</td>
            </tr>
            <tr>
              <th scope="row">Name</th>
              <td>${user.firstName} ${user.lastName}</td>
            </tr>
            <tr>
              <th scope="row">Email</th>
              <td>${user.email} ${user.emailVerified ? '(verified)' : '(not verified)'}</td>
            </tr>
            <tr>
              <th scope="row">Mobile</th>
              <td>${user.mobile ? `${user.mobile} ${user.mobileVerified ? '(verified)' : '(not verified)'}` : 'none'}</td>
            </tr>
          </tbody>
        </table>
      </section>
      <section aria-labelledby="h-devices">
        <h2 id="h-devices">Remembered devices</h2>
        ${
          devices.length === 0
            ? html`<p>No remembered devices.</p>`
            : html`<table>
                  <thead>
                    <tr>
                      <th>Device</th>
                      <th>First used</th>
                      <th>Last used</th>
                      <th></th>
                    </tr>
                  </thead>
                  <tbody>
                    ${devices.map(
                      (d) =>
                        html`<tr>
                          <td>${d.name}${d.id === currentDeviceId ? ' (this device)' : ''}</td>
                          <td>${date(d.createdAt)}</td>
                          <td>
                            ${date(d.lastUsedAt)}${
                              d.lastUse && (d.lastUse.ip || d.lastUse.from)
                                ? html`<br /><span class="hint"
                                      >from ${d.lastUse.ip ?? 'an unknown address'}, ${d.lastUse.from ?? 'unknown browser'}</span
                                    >`
                                : ''
                            }${
                              d.mismatch
                                ? html`<p class="error">
                                    Its cookie was last presented by another browser (${d.mismatch.from ?? 'unknown'}, from
                                    ${d.mismatch.ip ?? 'an unknown address'}) on ${date(d.mismatch.at)}, and a one-time code was asked for.
                                    If that was not you, forget this device and change your password.
                                  </p>`
                                : ''
                            }
                          </td>
                          <td>
                            ${rowButton('/account/devices/forget', csrf, { name: 'device_id', value: d.id }, 'Forget', `Forget ${d.name}`)}
                          </td>
                        </tr>`,
                    )}
                  </tbody>
                </table>
                <form method="post" action="/account/devices/forget">
                  ${csrfField(csrf)}<input type="hidden" name="device_id" value="all" /><button type="submit" class="secondary">
                    Forget all devices
                  </button>
                </form>`
        }
      </section>
      ${more ?? ''}
      <form method="post" action="/signout">${csrfField(csrf)}<button type="submit">Sign out</button></form>`,
    { wide: true },
  );
}

/** A table row's one-button form (sign a session out, forget a device): the CSRF token, the row's id, an accessible name. */
export function rowButton(action: string, csrf: string, id: { name: string; value: string }, label: string, name: string): SafeHtml {
  return html`<form method="post" action="${action}">
    ${csrfField(csrf)}<input type="hidden" name="${id.name}" value="${id.value}" /><button
      type="submit"
      class="secondary"
      aria-label="${name}"
    >
      ${label}
    </button>
  </form>`;
}

export function errorPage(title: string, message: string, link = '/signin'): string {
  return page(
    title,
    html`<p class="error" role="alert">${message}</p>
      <p><a href="${link}">Start again</a></p>`,
  );
}
