import { STYLESHEET, html, type SafeHtml } from '#libs/web';
import { formatIban, type PaymentDetailsErrors, type PaymentDetailsForm } from './iban.js';
import type { PaymentDetails } from './payment-details.js';
import type { Profile } from './portal-sessions.js';
import { methodsOf, type IdClaims, type StepUpStatus } from './step-up.js';

/** Gatehouse's base look with the portal's own header colour, so nobody mistakes one for the other. */
export const PORTAL_STYLESHEET = `${STYLESHEET}
header { background: #245a3a; display: flex; justify-content: space-between; align-items: center; }
header a { color: #fff; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.4rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; }
`;

const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}" />`;

/** A portal page: own header (with the signed-in person and `Sign out`), no script (strict CSP). */
export function portalPage(title: string, body: SafeHtml, signedIn?: { name: string; csrf: string }): string {
  const who = signedIn
    ? html`<form method="post" action="/logout">
        <span>${signedIn.name}</span> ${csrfField(signedIn.csrf)}<button type="submit" class="secondary">Sign out</button>
      </form>`
    : html``;
  return `<!doctype html>${
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Reconciliation portal</title>
        <link rel="stylesheet" href="/assets/portal.css" />
      </head>
      <body>
        <header><a href="/">Reconciliation portal</a>${who}</header>
        <main class="wide">
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`.value
  }`;
}

export function welcomePage(notice?: string): string {
  return portalPage(
    'Reconciliation portal',
    html`${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
      <p>
        A sample relying app of Gatehouse: partners reconcile payments here, and their payment details are protected by a step-up to a
        one-time code.
      </p>
      <p><a href="/login">Sign in with Gatehouse</a></p>`,
  );
}

const unixTime = (value: unknown) =>
  typeof value === 'number' && Number.isFinite(value) ? `${new Date(value * 1000).toISOString()} (${value})` : 'not stated';

/** Who is signed in, from the validated ID token (acr, amr, auth_time) and userinfo (name, Enterprise ID). */
export function homePage(profile: Profile, claims: IdClaims, csrf: string): string {
  const name = profile.name ?? profile.enterpriseId ?? claims.sub;
  return portalPage(
    'Signed in',
    html`<p>You are signed in through Gatehouse.</p>
      <dl aria-label="Signed-in person">
        <dt>Name</dt>
        <dd id="name">${profile.name ?? '—'}</dd>
        <dt>Enterprise ID</dt>
        <dd id="enterprise-id">${profile.enterpriseId ?? '—'}</dd>
        <dt>Organization</dt>
        <dd id="organization">${profile.organization ?? '—'}</dd>
        <dt>Email</dt>
        <dd id="email">${profile.email ?? '—'}</dd>
        <dt>Subject (sub)</dt>
        <dd id="sub"><code>${claims.sub}</code></dd>
        <dt>Level of assurance (acr)</dt>
        <dd id="acr"><code>${typeof claims.acr === 'string' ? claims.acr : 'not stated'}</code></dd>
        <dt>Methods (amr)</dt>
        <dd id="amr"><code>${methodsOf(claims).join(' ') || 'not stated'}</code></dd>
        <dt>Authenticated at (auth_time)</dt>
        <dd id="auth-time">${unixTime(claims.auth_time)}</dd>
      </dl>
      <p class="links"><a href="/payment-details">Payment details</a></p>`,
    { name, csrf },
  );
}

/** A labelled text input with its error (described by it, marked invalid). */
function textField(label: string, name: string, value: string, error: string | undefined, attributes: Record<string, string>): SafeHtml {
  const id = name.replace(/_/gu, '-');
  const extra = Object.entries(attributes).map(([k, v]) => html` ${k}="${v}"`);
  return html`<label for="f-${id}">${label}</label>
    <input
      id="f-${id}"
      name="${name}"
      type="text"
      value="${value}"
      ${extra}${error ? html` aria-describedby="${id}-error" aria-invalid="true"` : ''}
    />
    ${error ? html`<p class="field-error" id="${id}-error">${error}</p>` : ''}`;
}

export interface PaymentDetailsView {
  details: PaymentDetails | null;
  status: Extract<StepUpStatus, { fresh: true }>;
  csrf: string;
  name: string;
  /** Values to show in the form (a draft, or what was just submitted with errors). */
  form?: PaymentDetailsForm;
  errors?: PaymentDetailsErrors;
  notice?: string;
}

export function paymentDetailsPage(v: PaymentDetailsView): string {
  const iban = v.form?.iban ?? (v.details ? formatIban(v.details.iban) : '');
  const holder = v.form?.account_holder ?? v.details?.accountHolder ?? '';
  return portalPage(
    'Payment details',
    html`${v.notice ? html`<p class="notice" role="status">${v.notice}</p>` : ''}
      ${v.errors ? html`<p class="error" role="alert">The payment details were not saved: check the fields marked below.</p>` : ''}
      <p class="hint">
        Unlocked by a one-time code verified at ${v.status.authTime.toISOString()}; this page asks for a new one after
        ${v.status.until.toISOString()}.
      </p>
      ${
        v.details
          ? html`<dl aria-label="Current payment details">
              <dt>IBAN</dt>
              <dd id="current-iban">${formatIban(v.details.iban)}</dd>
              <dt>Account holder</dt>
              <dd id="current-holder">${v.details.accountHolder}</dd>
              <dt>Last changed</dt>
              <dd>${v.details.updatedAt.toISOString()}</dd>
            </dl>`
          : html`<p>No payment details on file yet.</p>`
      }
      <h2>Change payment details</h2>
      <form method="post" action="/payment-details" novalidate>
        ${csrfField(v.csrf)} ${textField('IBAN', 'iban', iban, v.errors?.iban, { autocomplete: 'off', spellcheck: 'false' })}
        ${textField('Account holder', 'account_holder', holder, v.errors?.accountHolder, { autocomplete: 'name' })}
        <button type="submit">Save</button>
      </form>
      <p class="links"><a href="/">Back to the portal</a></p>`,
    { name: v.name, csrf: v.csrf },
  );
}

/** A page for a sign-in or step-up that did not succeed; says what happened and what to do. */
export function problemPage(
  title: string,
  message: string,
  link: { href: string; label: string },
  signedIn?: { name: string; csrf: string },
): string {
  return portalPage(
    title,
    html`<p class="error" role="alert">${message}</p>
      <p><a href="${link.href}">${link.label}</a></p>`,
    signedIn,
  );
}

export function signedOutPage(warning?: string): string {
  return portalPage(
    'Signed out',
    html`<p class="notice" role="status">You are signed out of the reconciliation portal.</p>
      ${warning ? html`<p class="error" role="alert">${warning}</p>` : ''}
      <p><a href="/login">Sign in with Gatehouse</a></p>`,
  );
}
