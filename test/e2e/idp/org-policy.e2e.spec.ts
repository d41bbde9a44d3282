import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCliAgainst } from '../../support/cli.js';
import { errorLines, expectPage, signInByEmail, startHarness, submitPassword, type Harness } from '../../support/journeys.js';
import { WebClient, seedOrganization, seedUser } from '../../support/web.js';

/** `npm run cli -- org:policy`: an operator reads and changes an organization's policy; the sign-in follows it. */
describe('org:policy', () => {
  let h: Harness;
  let dataDir: string;
  let org: string;
  const cli = (...argv: string[]) => runCliAgainst(h.db.url, dataDir, ...argv);
  const PASSWORD = 'correct horse battery 1';

  beforeAll(async () => {
    h = await startHarness();
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-policy-'));
    org = await seedOrganization(h.db.dataSource, 'acme');
  });

  afterEach(() => {
    expect(errorLines(h.app)).toEqual([]);
  });

  afterAll(async () => {
    await h.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const events = async () =>
    await h.db.dataSource.query<Array<{ actor_type: string; details: { changed: unknown[]; version: number } }>>(
      `SELECT actor_type, details FROM audit_events WHERE event_type = 'organization.policy_changed' AND organization_id = $1 ORDER BY seq`,
      [org],
    );

  it('prints the policy as one JSON object, changes several values at once, bumps the version and audits before and after', async () => {
    const shown = await cli('org:policy', 'acme');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out[0]!)).toEqual({
      otpChannels: ['email', 'sms', 'voice'],
      rememberDeviceEnabled: true,
      rememberDeviceDays: 30,
      securityCodeMinLength: 6,
      securityCodeMaxLength: 9,
      recoveryMaxFailures: 5,
      requireVerifiedEmergencyEmail: false,
      requireVerifiedEmergencyPhone: false,
      contactReminderLimit: 3,
      defaultLocale: 'en',
      allowedFactors: ['password', 'legacy_password', 'otp', 'remembered_device', 'security_code'],
      version: 1,
    });

    const changed = await cli(
      'org:policy',
      'acme',
      '--otp-channels',
      'email,voice',
      '--remember-device-days',
      '14',
      '--security-code-length',
      '8',
      '--require-emergency-phone',
      'on',
    );
    expect(changed).toMatchObject({ code: 0, err: [] });
    expect(JSON.parse(changed.out[0]!)).toMatchObject({
      otpChannels: ['email', 'voice'],
      rememberDeviceDays: 14,
      securityCodeMinLength: 8,
      securityCodeMaxLength: 8,
      requireVerifiedEmergencyPhone: true,
      version: 2,
    });
    expect(await events()).toEqual([
      {
        actor_type: 'operator',
        details: {
          changed: [
            { setting: 'otp_channels', before: ['email', 'sms', 'voice'], after: ['email', 'voice'] },
            { setting: 'remember_device_days', before: 30, after: 14 },
            { setting: 'security_code_min_length', before: 6, after: 8 },
            { setting: 'security_code_max_length', before: 9, after: 8 },
            { setting: 'require_verified_emergency_phone', before: false, after: true },
          ],
          version: 2,
        },
      },
    ]);

    // The same values again change nothing and record nothing.
    const same = await cli('org:policy', 'acme', '--remember-device-days', '14');
    expect(same).toMatchObject({ code: 0, err: ['nothing changed'] });
    expect(JSON.parse(same.out[0]!)).toMatchObject({ version: 2 });
    expect(await events()).toHaveLength(1);
  });

  it.each([
    [['--otp-channels', 'sms,voice'], 'email must stay an OTP channel'],
    [['--otp-channels', 'email,fax'], 'expected a list of email, sms, voice'],
    [['--remember-device-days', '366'], 'expected a whole number from 1 to 365'],
    [['--remember-device-days', '1e2'], 'expected a whole number from 1 to 365'],
    [['--security-code-length', '9-6'], 'the range must go from short to long'],
    [['--security-code-length', '5'], 'expected a length from 6 to 9'],
    [['--recovery-max-failures', '2'], 'expected a whole number from 3 to 10'],
    [['--remember-devices', 'yes'], 'expected on or off'],
    [['--default-locale', 'fr'], 'expected one of en, it'],
    [['--factors', 'password,otp,fax'], 'expected a list of password, legacy_password, otp, remembered_device, security_code'],
  ])('refuses %j as bad usage (exit 2), changing nothing', async (args, message) => {
    const before = await cli('org:policy', 'acme');
    const run = await cli('org:policy', 'acme', ...args);
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toContain(message);
    expect((await cli('org:policy', 'acme')).out).toEqual(before.out);
  });

  it('sets the default message language, audited like every policy change', async () => {
    const run = await cli('org:policy', 'acme', '--default-locale', 'it');
    expect(run).toMatchObject({ code: 0, err: [] });
    expect(JSON.parse(run.out[0]!)).toMatchObject({ defaultLocale: 'it' });
    expect((await events()).at(-1)!.details.changed).toEqual([{ setting: 'default_locale', before: 'en', after: 'it' }]);
    await cli('org:policy', 'acme', '--default-locale', 'en');
  });

  it('lists the factors the organization allows, audited; one the registry cannot do without, or a contradiction, is refused', async () => {
    const without = ['--factors', 'password,legacy_password,otp,security_code'];
    const contradiction = await cli('org:policy', 'acme', ...without);
    expect(contradiction).toMatchObject({ code: 1, out: [] });
    expect(contradiction.err.join('\n')).toContain('remembering devices must be off when the remembered_device factor is not allowed');
    const required = await cli('org:policy', 'acme', '--factors', 'password,legacy_password,security_code');
    expect(required.err.join('\n')).toContain('these factors cannot be left out yet: otp');

    const run = await cli('org:policy', 'acme', ...without, '--remember-devices', 'off');
    expect(run).toMatchObject({ code: 0, err: [] });
    expect(JSON.parse(run.out[0]!)).toMatchObject({
      allowedFactors: ['password', 'legacy_password', 'otp', 'security_code'],
      rememberDeviceEnabled: false,
    });
    expect((await events()).at(-1)!.details.changed).toEqual([
      { setting: 'remember_device_enabled', before: true, after: false },
      {
        setting: 'allowed_factors',
        before: ['password', 'legacy_password', 'otp', 'remembered_device', 'security_code'],
        after: ['password', 'legacy_password', 'otp', 'security_code'],
      },
    ]);
    await cli(
      'org:policy',
      'acme',
      '--factors',
      'security_code,otp,remembered_device,password,legacy_password',
      '--remember-devices',
      'on',
    );
    expect(JSON.parse((await cli('org:policy', 'acme')).out[0]!)).toMatchObject({
      allowedFactors: ['password', 'legacy_password', 'otp', 'remembered_device', 'security_code'],
      rememberDeviceEnabled: true,
    });
  });

  it('fails with one line for an unknown organization (exit 1)', async () => {
    const run = await cli('org:policy', 'nowhere', '--remember-devices', 'off');
    expect(run).toMatchObject({ code: 1, out: [], err: ['error: no organization with slug "nowhere"'] });
  });

  it('turning remembering off makes a remembered device ask for a code again', async () => {
    const other = await seedOrganization(h.db.dataSource, 'globex');
    await seedUser(h.db.dataSource, other, { enterpriseId: 'ruth', password: PASSWORD, email: 'ruth@example.com' });
    const who = { userId: 'ruth', password: PASSWORD, email: 'ruth@example.com' };
    const web = new WebClient(h.app.url);
    expectPage(await signInByEmail(h, web, who, { remember: true }), 200, 'Your account');
    web.cookies.delete('gh_session');
    expectPage(await submitPassword(web, 'ruth', PASSWORD), 200, 'Your account');

    expect((await cli('org:policy', 'globex', '--remember-devices', 'off')).code).toBe(0);
    web.cookies.delete('gh_session');
    expectPage(await submitPassword(web, 'ruth', PASSWORD), 200, 'We sent a 6-digit code by email');
  });
});
