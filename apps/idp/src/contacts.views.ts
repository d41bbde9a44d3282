import type { ContactPrompt, EmergencyContactKind, EmergencyContacts, PhoneChannel, PhoneKind } from '#libs/contacts';
import type { StepError } from '#libs/otp';
import { html, page, type SafeHtml } from '#libs/web';
import { masked } from './views.js';

/**
 * Pages of the emergency contacts: the manage page (`/account/emergency-contacts`), the same
 * page as the interstitial after sign-in (with `return_to`, when the organization requires
 * verified contacts), and the section on the account page. Plain forms, no script, each
 * with the session's CSRF token.
 */

export const CONTACTS_PATH = '/account/emergency-contacts';

const CHANNEL_LABEL: Record<PhoneChannel, string> = { sms: 'Text message', voice: 'Voice call' };
const HOW: Record<'email' | PhoneChannel, string> = { email: 'by email', sms: 'by text message', voice: 'by voice call' };
const KIND_TEXT: Record<PhoneKind, string> = {
  mobile: 'mobile',
  fixed_line_or_mobile: 'mobile or landline',
  fixed_line: 'landline: voice calls only',
  voice_only: 'voice calls only',
};
const NAME: Record<EmergencyContactKind, string> = { email: 'emergency email', phone: 'emergency phone' };

/** Shown after a change (`?notice=`). */
export const CONTACT_NOTICES: Record<string, string> = {
  email_saved: 'Your emergency email was saved. Enter the code we sent to it to verify it.',
  phone_saved: 'Your emergency phone was saved. Enter the code we sent to it to verify it.',
  email_code_sent: 'We sent a new code to your emergency email.',
  phone_code_sent: 'We sent a new code to your emergency phone.',
  email_verified: 'Your emergency email is verified.',
  phone_verified: 'Your emergency phone is verified.',
  email_removed: 'Your emergency email was removed.',
  phone_removed: 'Your emergency phone was removed.',
  email_unchanged: 'This emergency email is already verified.',
  phone_unchanged: 'This emergency phone is already verified.',
};

export const PHISHING_HINT =
  'Gatehouse never asks you to reply to a message or to follow a link to verify a contact. Our messages contain no links: type the code here yourself.';

export interface ContactsPageInput {
  contacts: EmergencyContacts;
  csrf: string;
  /** Set when the page asks before going on (after sign-in, before an application gets its answer). */
  returnTo: string | null;
  prompt: ContactPrompt | null;
  notice?: string | undefined;
  error?: StepError | undefined;
  /** Which form the error belongs to, and its field (`email`, `phone`, `channel`, `code`). */
  errorKind?: EmergencyContactKind | undefined;
  field?: string | undefined;
  /** What the person typed, kept after an error. */
  values?: { email?: string; phone?: string; channel?: PhoneChannel };
}

const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}" />`;
const returnField = (returnTo: string | null) => (returnTo ? html`<input type="hidden" name="return_to" value="${returnTo}" />` : html``);
const when = (d: Date) => `${d.toISOString().replace('T', ' ').slice(0, 16)} UTC`;

function fieldError(input: ContactsPageInput, kind: EmergencyContactKind, field: string): SafeHtml {
  if (!input.error || input.errorKind !== kind || input.field !== field) return html``;
  return html`<p class="field-error" id="${kind}-${field}-error">${input.error.message}</p>`;
}

function described(input: ContactsPageInput, kind: EmergencyContactKind, field: string): SafeHtml {
  return input.error && input.errorKind === kind && input.field === field
    ? html` aria-describedby="${kind}-${field}-error" aria-invalid="true"`
    : html``;
}

/** An error that belongs to no single field of the form (cooldown, delivery) is shown above the form. */
function formError(input: ContactsPageInput, kind: EmergencyContactKind): SafeHtml {
  if (!input.error || input.errorKind !== kind || (input.field && input.field !== 'general')) return html``;
  return html`<p class="error" role="alert">${input.error.message}</p>`;
}

function channelRadios(channels: PhoneChannel[], selected: PhoneChannel, idPrefix: string, legend: string): SafeHtml {
  return html`<fieldset>
    <legend>${legend}</legend>
    ${channels.map(
      (c) =>
        html`<input type="radio" id="${idPrefix}-${c}" name="channel" value="${c}" ${c === selected ? html` checked` : ''} /><label
            for="${idPrefix}-${c}"
            >${CHANNEL_LABEL[c]}</label
          >`,
    )}
  </fieldset>`;
}

function pendingNotice(
  kind: EmergencyContactKind,
  destination: string,
  pending: NonNullable<EmergencyContacts['email']['pending']>,
): SafeHtml {
  const how = HOW[pending.channel === 'email' ? 'email' : pending.channel];
  if (pending.delivery === 'failed') {
    return html`<p class="error" role="alert">We could not send the code ${how} to ${destination}. Use "Send a new code".</p>`;
  }
  const verb = pending.delivery === 'pending' ? 'We are sending' : 'We sent';
  return html`<p class="notice" role="status">
    ${verb} a 6-digit code ${how} to ${destination}, for your ${NAME[kind]}. It is valid until ${when(pending.expiresAt)}.
  </p>`;
}

function codeForm(input: ContactsPageInput, kind: EmergencyContactKind, channels: PhoneChannel[], current: PhoneChannel | null): SafeHtml {
  const id = `f-${kind}-code`;
  return html`<form method="post" action="${CONTACTS_PATH}/verify">
    ${csrfField(input.csrf)}${returnField(input.returnTo)}<input type="hidden" name="kind" value="${kind}" />
    <label for="${id}">Code for the ${NAME[kind]}</label>
    <input id="${id}" name="code" type="text" autocomplete="one-time-code" inputmode="numeric" ${described(input, kind, 'code')} />
    ${fieldError(input, kind, 'code')}
    ${kind === 'phone' && channels.length > 1 ? channelRadios(channels, current ?? channels[0]!, 'resend-ch', 'Send a new code by') : ''}
    <button type="submit" name="action" value="verify">Verify ${kind}</button>
    <button type="submit" class="secondary" name="action" value="resend" aria-label="Send a new code to the ${NAME[kind]}">
      Send a new code
    </button>
  </form>`;
}

/** The form that sets (adds or changes) a contact, and the one that removes it once there is one. */
function valueForm(input: ContactsPageInput, kind: EmergencyContactKind, o: { label: string; type: string; hint: SafeHtml }): SafeHtml {
  const present = kind === 'email' ? input.contacts.email.address : input.contacts.phone.number;
  return html`<form method="post" action="${CONTACTS_PATH}/${kind}">
      ${csrfField(input.csrf)}${returnField(input.returnTo)}
      <label for="f-emergency-${kind}">${o.label}</label>
      <input
        id="f-emergency-${kind}"
        name="${kind}"
        type="${o.type}"
        autocomplete="off"
        value="${input.values?.[kind] ?? ''}"
        ${described(input, kind, kind)}
      />
      ${fieldError(input, kind, kind)} ${o.hint}
      <button type="submit" name="action" value="save">Save ${kind} and send code</button>
    </form>
    ${
      present
        ? html`<form method="post" action="${CONTACTS_PATH}/${kind}">
            ${csrfField(input.csrf)}${returnField(input.returnTo)}
            <button type="submit" class="secondary" name="action" value="remove">Remove ${NAME[kind]}</button>
          </form>`
        : ''
    }`;
}

function emailBlock(input: ContactsPageInput): SafeHtml {
  const e = input.contacts.email;
  const status = e.address
    ? html`<p>
        Your emergency email is <strong>${e.address}</strong> ${e.verifiedAt ? `(verified ${when(e.verifiedAt)})` : '(not verified)'}.
      </p>`
    : html`<p>You have no emergency email yet.</p>`;
  const unverified = e.address && !e.verifiedAt;
  return html`<section aria-labelledby="h-emergency-email">
    <h2 id="h-emergency-email">Emergency email</h2>
    ${status}${formError(input, 'email')} ${e.pending && unverified ? pendingNotice('email', masked('email', e.address!), e.pending) : ''}
    ${unverified ? codeForm(input, 'email', [], null) : ''}
    ${valueForm(input, 'email', {
      label: e.address ? 'New emergency email address' : 'Emergency email address',
      type: 'email',
      hint: html`<p class="hint">
        An address other than the one you sign in with. We send it a code; it counts as verified once you enter that code.
      </p>`,
    })}
  </section>`;
}

function phoneBlock(input: ContactsPageInput): SafeHtml {
  const p = input.contacts.phone;
  const status = p.number
    ? html`<p>
        Your emergency phone is <strong>${p.number}</strong> (${p.kind ? KIND_TEXT[p.kind] : ''})
        ${p.verifiedAt ? `(verified ${when(p.verifiedAt)})` : '(not verified)'}.
      </p>`
    : html`<p>You have no emergency phone yet.</p>`;
  const unverified = p.number && !p.verifiedAt;
  const landline =
    p.kind === 'fixed_line'
      ? html`<p class="hint">This is a landline: we can only call it. Text messages are not offered for landlines.</p>`
      : '';
  return html`<section aria-labelledby="h-emergency-phone">
    <h2 id="h-emergency-phone">Emergency phone</h2>
    ${status}${landline}${formError(input, 'phone')}
    ${p.pending && unverified ? pendingNotice('phone', masked('sms', p.number!), p.pending) : ''}
    ${unverified ? codeForm(input, 'phone', p.channels, (p.pending?.channel as PhoneChannel | undefined) ?? null) : ''}
    ${valueForm(input, 'phone', {
      label: p.number ? 'New emergency phone number' : 'Emergency phone number',
      type: 'tel',
      hint: html`<p class="hint">
          International format, for example +39 06 1234 5678. A mobile number can get the code by text message or voice call; a landline
          only by voice call.
        </p>
        ${channelRadios(['sms', 'voice'], input.values?.channel ?? 'sms', 'ch', 'How should we send the code?')}
        ${fieldError(input, 'phone', 'channel')}`,
    })}
  </section>`;
}

function requiredList(missing: EmergencyContactKind[]): string {
  return missing.map((k) => `your ${NAME[k]}`).join(' and ');
}

/** The interstitial's question, with "Remind me later" while the policy allows it. */
function askBlock(input: ContactsPageInput): SafeHtml {
  const prompt = input.prompt;
  if (!input.returnTo || !prompt) return html``;
  if (!prompt.ask) {
    return html`<p class="notice" role="status">Your emergency contacts are in order.</p>
      <p><a href="${input.returnTo}">Continue</a></p>`;
  }
  const later = prompt.canDefer
    ? html`<form method="post" action="${CONTACTS_PATH}/remind-later">
        ${csrfField(input.csrf)}${returnField(input.returnTo)}
        <button type="submit" class="secondary">Remind me later</button>
        <p class="hint">
          You can postpone this ${prompt.remindersLeft === 1 ? 'one more time' : `${prompt.remindersLeft} more times`}. After that, you will
          need to verify them to continue.
        </p>
      </form>`
    : html`<p class="hint">You can no longer postpone this: verify them to continue.</p>`;
  return html`<section aria-labelledby="h-required">
    <h2 id="h-required">Before you continue</h2>
    <p role="alert">Your organization asks you to verify ${requiredList(prompt.missing)}.</p>
    ${later}
  </section>`;
}

export function contactsPage(input: ContactsPageInput): string {
  const interstitial = input.returnTo !== null && input.prompt?.ask === true;
  return page(
    interstitial ? 'Verify your emergency contacts' : 'Emergency contacts',
    html`${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}${
        input.error && !input.errorKind ? html`<p class="error" role="alert">${input.error.message}</p>` : ''
      }
      <p>
        Emergency contacts are another way to reach you: an email address and a phone number other than the ones you sign in with. Each is
        verified with a one-time code sent to it.
      </p>
      ${askBlock(input)}${emailBlock(input)}${phoneBlock(input)}
      <p class="hint">${PHISHING_HINT}</p>
      ${input.returnTo ? '' : html`<p class="links"><a href="/account">Back to your account</a></p>`}`,
    { wide: true },
  );
}

/** The account page's section: what is on file, and whether the organization asks for more. */
export function emergencyContactsSection(contacts: EmergencyContacts): SafeHtml {
  const e = contacts.email;
  const p = contacts.phone;
  const state = (verifiedAt: Date | null) => (verifiedAt ? '(verified)' : '(not verified)');
  return html`<section aria-labelledby="h-emergency">
    <h2 id="h-emergency">Emergency contacts</h2>
    ${
      contacts.missing.length > 0
        ? html`<p class="error" role="alert">
            Your organization asks you to verify ${requiredList(contacts.missing)}. <a href="${CONTACTS_PATH}">Verify now</a>
          </p>`
        : ''
    }
    <table>
      <tbody>
        <tr>
          <th scope="row">Emergency email</th>
          <td>${e.address ? `${e.address} ${state(e.verifiedAt)}` : 'none'}</td>
        </tr>
        <tr>
          <th scope="row">Emergency phone</th>
          <td>${p.number ? `${p.number} (${p.kind ? KIND_TEXT[p.kind] : ''}) ${state(p.verifiedAt)}` : 'none'}</td>
        </tr>
      </tbody>
    </table>
    <p><a href="${CONTACTS_PATH}">Manage emergency contacts</a></p>
  </section>`;
}
