import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testSecrets } from '#libs/config';
import { startApp, testConfig, type RunningApp } from '../support/apps.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TestMailServer, extractCode } from '../support/mail.js';
import { seedLegacyAccount, seedOrganization } from '../support/web.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve('test/artifacts/signin');

/**
 * A person in a real browser (Debian's chromium, driven by playwright-core): enrollment
 * from legacy credentials, then a sign-in that remembers the device, then a sign-in that
 * skips the one-time code. Every control is found by its accessible name (CONTRACT.md).
 */
describe('browser: enrollment and remembered-device sign-in', () => {
  let db: TestDatabase;
  let mail: TestMailServer;
  let app: RunningApp;
  let browser: Browser;
  let page: Page;
  let shot = 0;

  const snap = async (name: string) => {
    shot += 1;
    await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    db = await createTestDatabase();
    mail = await TestMailServer.start();
    app = await startApp('idp', db.url, { config: testConfig({ SMTP_URL: mail.url }), secrets: testSecrets() });
    const org = await seedOrganization(db.dataSource, 'browser-org');
    await seedLegacyAccount(db.dataSource, org, {
      legacyUserId: 'EMP-4711',
      password: 'Legacy-pass-4711',
      firstName: 'Katherine',
      lastName: 'Johnson',
      email: 'katherine@example.com',
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await mail?.stop();
    await db?.drop();
  });

  async function signIn(userId: string, password: string) {
    await page.goto(`${app.url}/account`);
    await page.getByLabel('User ID').fill(userId);
    await page.getByLabel('Password').fill(password);
    await snap(`signin-${userId}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    await snap(`after-signin-${userId}`);
  }

  it('enrolls a legacy user by the contract labels', async () => {
    await signIn('EMP-4711', 'Legacy-pass-4711');
    await expect(page.getByLabel('First name').inputValue()).resolves.toBe('Katherine');
    await expect(page.getByLabel('Last name').inputValue()).resolves.toBe('Johnson');
    await expect(page.getByLabel('Email').inputValue()).resolves.toBe('katherine@example.com');
    await expect(page.getByRole('button', { name: 'Report incorrect data' }).isVisible()).resolves.toBe(true);
    await snap('confirm-details');
    await page.getByRole('button', { name: 'This is correct' }).click();

    await page.getByLabel('Enterprise ID').fill('k.johnson');
    await page.getByLabel('New password', { exact: true }).fill('orbital mechanics 1962 vermilion kestrel');
    await page.getByLabel('Confirm new password').fill('orbital mechanics 1962 vermilion kestrel');
    await page.getByLabel('Security code', { exact: true }).fill('5831907');
    await page.getByLabel('Confirm security code').fill('5831907');
    await expect(page.getByLabel('Mobile number (optional)').isVisible()).resolves.toBe(true);
    await snap('choose-credentials');
    await page.getByRole('button', { name: 'Continue' }).click();

    const code = await mail.waitForCode('katherine@example.com');
    await page.getByLabel('One-time code').fill(code);
    await snap('verify-email');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${app.url}/account`);
    await expect(page.getByText('k.johnson').first().isVisible()).resolves.toBe(true);
    await snap('account-after-enrollment');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/signin/u);
  });

  it('remembers the device after a one-time code, then skips the code', async () => {
    const before = mail.messagesTo('katherine@example.com').length;
    await signIn('k.johnson', 'orbital mechanics 1962 vermilion kestrel');
    const code = await mail.waitForCode('katherine@example.com', { alreadySeen: before });
    await page.getByLabel('One-time code').fill(code);
    await page.getByLabel('Remember this device').check();
    await expect(page.getByRole('button', { name: 'Send a new code' }).isVisible()).resolves.toBe(true);
    await snap('otp-remember');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${app.url}/account`);
    await expect(page.getByText('(this device)').isVisible()).resolves.toBe(true);
    // Where the person is signed in: this session, with its own "Sign out" and "Sign out everywhere".
    const sessions = page.getByRole('region', { name: 'Sessions' });
    await expect(sessions.getByRole('cell', { name: /\(this session\)$/u }).count()).resolves.toBe(1);
    await expect(sessions.getByRole('button', { name: /^Sign out .*\(this session\)/u }).isVisible()).resolves.toBe(true);
    await expect(sessions.getByRole('button', { name: 'Sign out everywhere' }).isVisible()).resolves.toBe(true);
    await snap('account-remembered-device');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/signin/u);

    const codes = () => mail.messagesTo('katherine@example.com').filter((m) => extractCode(m.subject) !== undefined).length;
    const codesBefore = codes();
    await signIn('k.johnson', 'orbital mechanics 1962 vermilion kestrel');
    await page.waitForURL(`${app.url}/account`);
    await snap('account-without-otp');
    // No code was sent for this sign-in; the new-device notice of the previous one carries none.
    expect(codes()).toBe(codesBefore);
    expect(
      mail
        .messagesTo('katherine@example.com')
        .some((m) => /new sign-in/iu.test(m.subject) && /new device \(Chrome/u.test(m.text) && extractCode(m.subject) === undefined),
    ).toBe(true);
    const [session] = await db.dataSource.query(
      `SELECT acr, verifications FROM sessions WHERE ended_at IS NULL ORDER BY created_at DESC LIMIT 1`,
    );
    expect(session.acr).toBe('urn:gatehouse:loa:1');
  });
});
