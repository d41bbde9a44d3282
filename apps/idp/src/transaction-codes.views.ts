import type { VisibleTransactionCode } from '#libs/transaction-codes';
import { dataTable, html, type SafeHtml } from '#libs/web';

/**
 * The account page's "Transaction codes" section: the user's open codes (a service asked
 * Gatehouse for them, e.g. to hand over a parcel), each with the service, what it confirms,
 * the code and how long it is valid.
 */
export function transactionCodesSection(codes: readonly VisibleTransactionCode[]): SafeHtml {
  return html`<section aria-labelledby="h-transaction-codes">
    <h2 id="h-transaction-codes">Transaction codes</h2>
    ${
      codes.length === 0
        ? html`<p>No open transaction codes.</p>`
        : html`<p class="hint">Give a code only in person, to whoever hands over what it confirms. Gatehouse never asks you for it.</p>
            ${dataTable(
              ['Service', 'For', 'Code', 'Valid'],
              codes,
              (c) => [
                c.serviceName,
                html`${c.description}<br /><span class="hint">Reference ${c.reference}</span>`,
                html`<strong>${c.code}</strong>`,
                c.validity,
              ],
              { scope: true },
            )}`
    }
  </section>`;
}
