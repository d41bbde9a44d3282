import type { Browser, Page } from 'playwright-core';
import { startApp, testConfig, type RunningApp } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { launchChromium, screenshots } from '../support/browser.js';
import { TestMailServer } from '../support/mail.js';
import { seedOrganization, seedUser } from '../support/web.js';
import { TestWebhookReceiver } from '../support/webhook.js';

/**
 * A person in a real browser (strict CSP, no script): the organization requires verified
 * emergency contacts, so sign-in ends on the interstitial; "Remind me later" goes on, and
 * the next sign-in verifies both contacts (a landline by voice call) by their accessible names.
 */
describe('browser: the emergency contacts interstitial', () => {
  let db: TestDatabase;
  let mail: TestMailServer;
  let voice: TestWebhookReceiver;
  let app: RunningApp;
  let browser: Browser;
  let page: Page;
  let snap: (name: string) => Promise<void>;
  const cspViolations: string[] = [];

  beforeAll(async () => {
    snap = await screenshots('contacts', () => page);
    db = await createTestDatabase();
    mail = await TestMailServer.start();
    voice = await TestWebhookReceiver.start();
    app = await startApp('idp', db.url, { config: testConfig({ SMTP_URL: mail.url, VOICE_WEBHOOK_URL: voice.url }) });
    const org = await seedOrganization(db.dataSource, 'browser-kin', {
      require_verified_emergency_email: true,
      require_verified_emergency_phone: true,
      contact_reminder_limit: 1,
    });
    await seedUser(db.dataSource, org, { enterpriseId: 'mary.jackson', password: 'wind tunnel 1958 hampton', email: 'mary@example.com' });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on('console', (message) => {
      if (/Content Security Policy/iu.test(message.text())) cspViolations.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await voice?.stop();
    await mail?.stop();
    await db?.drop();
  });

  async function signIn(): Promise<void> {
    const seen = mail.messagesTo('mary@example.com').length;
    await page.goto(`${app.url}/account`);
    await page.getByLabel('User ID').fill('mary.jackson');
    await page.getByLabel('Password').fill('wind tunnel 1958 hampton');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('One-time code').fill(await mail.waitForCode('mary@example.com', { alreadySeen: seen }));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForLoadState();
  }

  it('asks after sign-in, lets the user postpone once, then verifies an email and a landline by voice', async () => {
    await signIn();
    await expect(page.getByRole('heading', { name: 'Verify your emergency contacts' }).isVisible()).resolves.toBe(true);
    await snap('interstitial');
    await page.getByRole('button', { name: 'Remind me later' }).click();
    await page.waitForURL(`${app.url}/account`);
    await expect(page.getByRole('alert').filter({ hasText: 'Your organization asks you to verify' }).isVisible()).resolves.toBe(true);
    await snap('account-with-reminder');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/signin/u);

    await signIn();
    await expect(page.getByText('You can no longer postpone this').isVisible()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Remind me later' }).count()).resolves.toBe(0);
    await page.getByLabel('Emergency email address').fill('dorothy@example.org');
    await page.getByRole('button', { name: 'Save email and send code' }).click();
    await page.getByLabel('Code for the emergency email').fill(await mail.waitForCode('dorothy@example.org'));
    await snap('email-code');
    await page.getByRole('button', { name: 'Verify email' }).click();
    await page.waitForLoadState();

    await page.getByLabel('Emergency phone number').fill('+39 06 1234 5678');
    await page.getByRole('radio', { name: 'Voice call' }).check();
    await page.getByRole('button', { name: 'Save phone and send code' }).click();
    await expect(page.getByText('This is a landline: we can only call it.').isVisible()).resolves.toBe(true);
    await page.getByLabel('Code for the emergency phone').fill(await voice.waitForCode('+390612345678'));
    await snap('phone-code');
    await page.getByRole('button', { name: 'Verify phone' }).click();
    // Both verified: on to where sign-in was going.
    await page.waitForURL(`${app.url}/account`);
    await expect(page.getByText('dorothy@example.org (verified)').isVisible()).resolves.toBe(true);
    await snap('account-verified');
    expect(cspViolations).toEqual([]);
  });
});
