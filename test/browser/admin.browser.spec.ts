import type { Browser, Page } from 'playwright-core';
import { cli, startConsole, waitForSetupCode, type ConsoleHarness } from '../support/admin.js';
import { codeMails, nextEmailCode } from '../support/journeys.js';
import { launchChromium, screenshots } from '../support/browser.js';
import { seedLegacyAccount, seedOrganization, seedUser } from '../support/web.js';

/**
 * A support supervisor in a real browser (Debian's chromium, driven by playwright-core):
 * the account made with `staff:create`, set up from the emailed code, sign-in with password
 * and a one-time code, a search that ignores accents and case, and a person's page. Every
 * control is found by its accessible name (CONTRACT.md, "Support console").
 */
describe('browser: support console setup, sign-in, search and a person', () => {
  let h: ConsoleHarness;
  let browser: Browser;
  let page: Page;
  let snap: (name: string) => Promise<void>;

  beforeAll(async () => {
    h = await startConsole();
    const org = await seedOrganization(h.db.dataSource, 'browser-console');
    const user = await seedUser(h.db.dataSource, org, {
      enterpriseId: 'r.dubois',
      password: 'user pass phrase 77',
      email: 'renee@example.com',
    });
    await h.db.dataSource.query(`UPDATE users SET first_name = 'Renée', last_name = 'Dubois' WHERE id = $1`, [user]);
    await seedLegacyAccount(h.db.dataSource, org, {
      legacyUserId: 'EMP-9001',
      password: 'legacy pass',
      firstName: 'René',
      lastName: 'Duboïs',
      email: 'rene@example.com',
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    snap = await screenshots('admin', () => page);
  });

  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('sets up the account from the emailed code', async () => {
    expect(
      (await cli(h, ['staff:create', '--email', 'grace@example.com', '--name', 'Grace Supervisor', '--role', 'supervisor'])).code,
    ).toBe(0);
    const code = await waitForSetupCode(h.mail, 'grace@example.com');
    await page.goto(`${h.admin.url}/signin`);
    await page.getByRole('link', { name: 'Set up your account' }).click();
    await page.getByLabel('Setup code').fill(code);
    await page.getByLabel('New password', { exact: true }).fill('harbour lights at dusk 9');
    await page.getByLabel('Confirm new password').fill('harbour lights at dusk 9');
    await snap('setup');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/signin\?notice=setup_done/u);
    await expect(page.getByText('Your account is set up.').isVisible()).resolves.toBe(true);
    await snap('setup-done');
  });

  it('signs in with password and a one-time code', async () => {
    const seen = codeMails(h.mail, 'grace@example.com').length;
    await page.getByLabel('Email').fill('grace@example.com');
    await page.getByLabel('Password').fill('harbour lights at dusk 9');
    await snap('signin');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/signin\/otp/u);
    const code = await nextEmailCode(h.mail, 'grace@example.com', seen);
    await page.getByLabel('One-time code').fill(code);
    await snap('otp');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/search/u);
    await expect(page.getByText('Grace Supervisor (supervisor)').isVisible()).resolves.toBe(true);
  });

  it('searches without minding accents or case, and opens a person', async () => {
    await page.getByLabel('Search').fill('DUBOIS');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/search\?q=DUBOIS/u);
    await expect(page.getByRole('link', { name: /r\.dubois/u }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('link', { name: /EMP-9001/u }).isVisible()).resolves.toBe(true);
    await snap('search');
    await page.getByRole('link', { name: /r\.dubois/u }).click();
    await page.waitForURL(/\/people\/user\//u);
    await expect(page.getByRole('heading', { name: 'Profile', exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('heading', { name: 'Contacts', exact: true }).isVisible()).resolves.toBe(true);
    await expect(page.getByText('renee@example.com').first().isVisible()).resolves.toBe(true);
    await snap('person');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/signin\?notice=signed_out/u);
    await snap('signed-out');
  });
});
