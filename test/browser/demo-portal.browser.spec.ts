import type { Browser, Page } from 'playwright-core';
import { LOA1, LOA2 } from '#libs/sessions';
import { launchChromium, screenshots } from '../support/browser.js';
import { startDemoPortal, type RunningPortal } from '../support/demo-portal.js';
import { codeMails, nextEmailCode } from '../support/journeys.js';
import { startOidcHarness, type OidcHarness } from '../support/oidc.js';
import { seedOrganization, seedUser } from '../support/web.js';

const WHO = { userId: 'dorothy.vaughan', password: 'fortran for the west computers', email: 'dorothy@example.com' };

/**
 * The whole journey of the sample relying app in a real browser (Debian's chromium, strict
 * CSP, no script): the portal sends the person to Gatehouse, a full sign-in remembers the
 * device, sign-out goes through Gatehouse (RP-initiated logout), the next sign-in skips the
 * code (loa:1), and Payment details demand a step-up with a fresh one-time code before the
 * data appear. Every Gatehouse control is found by its CONTRACT.md accessible name.
 */
describe('browser: demo portal -> Gatehouse (remembered device) -> Payment details step-up', () => {
  let h: OidcHarness;
  let portal: RunningPortal;
  let browser: Browser;
  let page: Page;
  let snap: (name: string) => Promise<void>;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    snap = await screenshots('demo-portal', () => page);
    h = await startOidcHarness();
    const org = await seedOrganization(h.db.dataSource, 'west-computing');
    const sub = await seedUser(h.db.dataSource, org, { enterpriseId: WHO.userId, password: WHO.password, email: WHO.email });
    await h.db.dataSource.query(
      `INSERT INTO demo_portal_payment_details (sub, iban, account_holder, updated_at) VALUES ($1, 'DE89370400440532013000', 'Dorothy Vaughan', now())`,
      [sub],
    );
    portal = await startDemoPortal(h);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on('console', (message) => {
      if (/Content Security Policy/iu.test(message.text())) cspViolations.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await portal?.dispose();
    await h?.close();
  });

  /** Gatehouse's sign-in page: User ID and Password, then (unless skipped) the emailed code. */
  async function signInAtGatehouse(name: string, options: { remember?: boolean; expectOtp: boolean }): Promise<void> {
    await page.waitForURL(`${h.issuer}/signin?**`);
    const seen = codeMails(h.mail, WHO.email).length;
    await page.getByLabel('User ID').fill(WHO.userId);
    await page.getByLabel('Password').fill(WHO.password);
    await snap(`${name}-gatehouse-password`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    if (!options.expectOtp) return;
    await page.getByLabel('One-time code').fill(await nextEmailCode(h.mail, WHO.email, seen));
    if (options.remember) await page.getByLabel('Remember this device').check();
    await snap(`${name}-gatehouse-one-time-code`);
    await page.getByRole('button', { name: 'Verify' }).click();
  }

  const dd = (id: string) => page.locator(`dd#${id}`).innerText();

  it('signs in with a remembered device, then steps up with a one-time code to see the payment details', async () => {
    // 1. A full sign-in that remembers the device: loa:2.
    await page.goto(portal.url);
    await snap('portal-welcome');
    await page.getByRole('link', { name: 'Sign in with Gatehouse' }).click();
    await signInAtGatehouse('first-signin', { remember: true, expectOtp: true });
    await page.waitForURL(`${portal.url}/`);
    await expect(dd('acr')).resolves.toBe(LOA2);
    await expect(dd('enterprise-id')).resolves.toBe(WHO.userId);
    await snap('portal-signed-in-loa2');

    // 2. Sign out: the portal hands over to Gatehouse, which asks, then returns to the portal.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${h.issuer}/oidc/session/end?**`);
    await expect(page.getByText('Reconciliation portal (demo) asks you to sign out.').isVisible()).resolves.toBe(true);
    await snap('gatehouse-sign-out');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${portal.url}/signed-out`);
    await snap('portal-signed-out');

    // 3. Signing in again on the remembered device skips the code: loa:1, password only.
    const codesBefore = codeMails(h.mail, WHO.email).length;
    await page.getByRole('link', { name: 'Sign in with Gatehouse' }).click();
    await signInAtGatehouse('remembered-device', { expectOtp: false });
    await page.waitForURL(`${portal.url}/`);
    await expect(dd('acr')).resolves.toBe(LOA1);
    await expect(dd('amr')).resolves.toBe('pwd');
    expect(codeMails(h.mail, WHO.email)).toHaveLength(codesBefore);
    await snap('portal-signed-in-remembered-device-loa1');

    // 4. Payment details: loa:1 is not enough; Gatehouse asks for a fresh code (only that), even on this device.
    await page.getByRole('link', { name: 'Payment details' }).click();
    await page.waitForURL(`${h.issuer}/account/step-up?**`);
    await expect(page.getByLabel('Password').count()).resolves.toBe(0);
    const seen = codeMails(h.mail, WHO.email).length;
    await snap('step-up-gatehouse-confirm');
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByLabel('One-time code').fill(await nextEmailCode(h.mail, WHO.email, seen));
    await snap('step-up-gatehouse-one-time-code');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${portal.url}/payment-details`);
    await expect(page.getByRole('heading', { name: 'Payment details', exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.locator('dd#current-iban').innerText()).resolves.toBe('DE89 3704 0044 0532 0130 00');
    await expect(page.locator('dd#current-holder').innerText()).resolves.toBe('Dorothy Vaughan');
    await snap('payment-details-shown-after-step-up');

    // 5. Edit them, by their labels.
    await page.getByLabel('IBAN').fill('GB82 WEST 1234 5698 7654 32');
    await page.getByLabel('Account holder').fill('Dorothy J. Vaughan');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(`${portal.url}/payment-details?saved=1`);
    await expect(page.getByRole('status').innerText()).resolves.toBe('Payment details saved.');
    await expect(page.locator('dd#current-iban').innerText()).resolves.toBe('GB82 WEST 1234 5698 7654 32');
    await snap('payment-details-saved');

    // Back on the portal the ID token now says loa:2 with otp.
    await page.getByRole('link', { name: 'Back to the portal' }).click();
    await expect(dd('acr')).resolves.toBe(LOA2);
    await expect(dd('amr')).resolves.toContain('otp');
    expect(cspViolations).toEqual([]);
  }, 120_000);
});
