import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Provider from 'oidc-provider';
import * as client from 'openid-client';
import { OIDC_PROVIDER, resolveBearer } from '#libs/oidc';
import { runCliAgainst } from '../../support/cli.js';
import { authorize, registerApp, signIn, startOidcHarness, type OidcHarness } from '../../support/oidc.js';
import { registerService, seedPerson, serviceToken, txApi, type Service } from '../../support/transaction-codes.js';
import { WebClient, seedOrganization, text } from '../../support/web.js';

/**
 * Validity "until the end of a local date" across daylight-saving changes (Europe/Rome, on a
 * fixed clock moved by the test), the operator commands (client:create for services,
 * client:allow-verify), and what the bearer-token resolver answers.
 */
describe('Transaction codes: local-date validity, CLI, bearer tokens', () => {
  let h: OidcHarness;
  let org: string;
  let shop: Service;
  let dataDir: string;
  let n = 0;

  beforeAll(async () => {
    h = await startOidcHarness();
    org = await seedOrganization(h.db.dataSource, 'txv');
    shop = await registerService(h, 'Parcel Shop', ['transaction_codes', 'transaction_codes:verify']);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-txv-'));
  });

  afterAll(async () => {
    await h.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const person = () => seedPerson(h, org, `v${++n}`);

  /** The last Sunday of `month` (1-12) of next year, as YYYY-MM-DD: when Europe/Rome changes clocks in March and October. */
  function lastSunday(month: number): string {
    const year = new Date().getUTCFullYear() + 1;
    const last = new Date(Date.UTC(year, month, 0));
    last.setUTCDate(last.getUTCDate() - last.getUTCDay());
    return last.toISOString().slice(0, 10);
  }
  const dayBefore = (date: string) => new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);

  async function issueUntilEndOf(date: string, zone: string) {
    const who = await person();
    const reference = `DST-${++n}`;
    const answer = await txApi(h, 'POST', '', await serviceToken(shop, 'transaction_codes'), {
      sub: who.id,
      reference,
      description: `Parcel ${reference}`,
      valid_until_end_of: date,
      time_zone: zone,
    });
    return { who, reference, answer };
  }

  async function codeFor(email: string): Promise<{ code: string; text: string }> {
    const mail = await h.mail.waitFor((m) => m.envelope.to.includes(email));
    return { code: /(?<!\d)(\d{6})(?!\d)/u.exec(mail.text)![1]!, text: mail.text };
  }

  async function verify(reference: string, code: string): Promise<unknown> {
    return (await txApi(h, 'POST', '/verify', await serviceToken(shop, 'transaction_codes:verify'), { reference, code })).body;
  }

  describe('valid until the end of a local date (Europe/Rome)', () => {
    it('on the day clocks go forward (23 hours), a code ends at local midnight, 22:00 UTC', async () => {
      const spring = lastSunday(3);
      h.clock.set(`${dayBefore(spring)}T10:00:00Z`);
      const a = await issueUntilEndOf(spring, 'Europe/Rome');
      const b = await issueUntilEndOf(spring, 'Europe/Rome');
      const saturday = await issueUntilEndOf(dayBefore(spring), 'Europe/Rome');
      expect(a.answer).toMatchObject({ status: 201, body: { expires_at: `${spring}T22:00:00.000Z` } });
      expect(b.answer.body!.expires_at).toBe(`${spring}T22:00:00.000Z`);
      // The day before still ends at 23:00 UTC (winter time).
      expect(saturday.answer.body!.expires_at).toBe(`${dayBefore(spring)}T23:00:00.000Z`);

      const mailA = await codeFor(a.who.email);
      const weekday = new Intl.DateTimeFormat('en-GB', { dateStyle: 'full', timeZone: 'UTC' })
        .format(new Date(`${spring}T12:00:00Z`))
        .replace(',', '');
      expect(mailA.text).toContain(`It is valid until the end of ${weekday} (Europe/Rome time) and can be used once.`);
      const codeB = (await codeFor(b.who.email)).code;

      h.clock.set(`${spring}T21:59:59Z`);
      expect(await verify(a.reference, mailA.code)).toEqual({ valid: true });
      h.clock.set(`${spring}T22:00:00Z`);
      expect(await verify(b.reference, codeB)).toEqual({ valid: false });
    });

    it('on the day clocks go back (25 hours), a code ends at local midnight, 23:00 UTC', async () => {
      const autumn = lastSunday(10);
      h.clock.set(`${dayBefore(autumn)}T10:00:00Z`);
      const a = await issueUntilEndOf(autumn, 'Europe/Rome');
      const b = await issueUntilEndOf(autumn, 'Europe/Rome');
      const saturday = await issueUntilEndOf(dayBefore(autumn), 'Europe/Rome');
      expect(a.answer).toMatchObject({ status: 201, body: { expires_at: `${autumn}T23:00:00.000Z` } });
      // The day before ends at 22:00 UTC (summer time).
      expect(saturday.answer.body!.expires_at).toBe(`${dayBefore(autumn)}T22:00:00.000Z`);
      const codeA = (await codeFor(a.who.email)).code;
      const codeB = (await codeFor(b.who.email)).code;

      // 22:30 UTC is 23:30 in Rome after the change: still the same day there.
      h.clock.set(`${autumn}T22:30:00Z`);
      expect(await verify(a.reference, codeA)).toEqual({ valid: true });
      h.clock.set(`${autumn}T23:00:00Z`);
      expect(await verify(b.reference, codeB)).toEqual({ valid: false });

      // The account page says so in the user's terms.
      h.clock.set(`${dayBefore(autumn)}T12:00:00Z`);
      const c = await issueUntilEndOf(autumn, 'Europe/Rome');
      await codeFor(c.who.email); // delivered before the sign-in code, which signIn reads next
      const web = new WebClient(h.app.url);
      await web.get('/account');
      const page = (await signIn(h, web, { userId: c.who.userId, password: c.who.password, email: c.who.email })).page!;
      expect(text(page.html)).toMatch(/until the end of Sunday \d{1,2} October \d{4} \(Europe\/Rome time\)/u);
    });

    it('takes "today" and "the past" in the given zone, and at most 30 days ahead', async () => {
      // 23:30 UTC on a winter Saturday is already Sunday in Rome, still Saturday in New York.
      const saturday = dayBefore(lastSunday(11));
      h.clock.set(`${saturday}T23:30:00Z`);
      const rome = await issueUntilEndOf(saturday, 'Europe/Rome');
      expect(rome.answer).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'valid_until_end_of' } });
      const newYork = await issueUntilEndOf(saturday, 'America/New_York');
      expect(newYork.answer).toMatchObject({ status: 201 });
      expect(Date.parse(newYork.answer.body!.expires_at as string)).toBe(Date.parse(`${saturday}T00:00:00-05:00`) + 86_400_000);

      const inDays = (days: number) => new Date(Date.parse(`${saturday}T12:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
      expect((await issueUntilEndOf(inDays(30), 'America/New_York')).answer.status).toBe(201);
      expect((await issueUntilEndOf(inDays(31), 'America/New_York')).answer).toMatchObject({
        status: 400,
        body: { field: 'valid_until_end_of' },
      });
    });
  });

  describe('operator commands', () => {
    const cli = (...argv: string[]) => runCliAgainst(h.db.url, dataDir, ...argv);

    it('client:create registers services with the transaction-code scopes; client:allow-verify lets one verify another’s codes', async () => {
      const issuerRun = await cli('client:create', '--name', 'CLI shop', '--grant', 'client_credentials', '--scope', 'transaction_codes');
      expect(issuerRun.code).toBe(0);
      const issuer = JSON.parse(issuerRun.out[0]!) as { client_id: string; client_secret: string };
      const verifierRun = await cli(
        'client:create',
        '--name',
        'CLI courier',
        '--grant',
        'client_credentials',
        '--scope',
        'transaction_codes:verify',
      );
      const verifier = JSON.parse(verifierRun.out[0]!) as { client_id: string; client_secret: string };
      const config = (c: { client_id: string; client_secret: string }) =>
        client.discovery(new URL(h.issuer), c.client_id, undefined, client.ClientSecretBasic(c.client_secret), {
          execute: [client.allowInsecureRequests],
        });
      const issuerToken = (await client.clientCredentialsGrant(await config(issuer), { scope: 'transaction_codes' })).access_token;
      const verifierToken = (await client.clientCredentialsGrant(await config(verifier), { scope: 'transaction_codes:verify' }))
        .access_token;

      const who = await person();
      const issued = await txApi(h, 'POST', '', issuerToken, { sub: who.id, reference: 'CLI-1', description: 'Parcel', expires_in: 600 });
      expect(issued.status).toBe(201);
      const code = /(?<!\d)(\d{6})(?!\d)/u.exec((await h.mail.waitFor((m) => m.envelope.to.includes(who.email))).text)![1]!;
      // Not allowed yet: the same answer as a wrong code.
      expect((await txApi(h, 'POST', '/verify', verifierToken, { reference: 'CLI-1', code })).body).toEqual({ valid: false });

      const allow = await cli('client:allow-verify', '--verifier', verifier.client_id, '--issuer', issuer.client_id);
      expect(allow).toMatchObject({
        code: 0,
        out: [`allowed ${verifier.client_id} to verify the transaction codes of ${issuer.client_id}`],
      });
      const again = await cli('client:allow-verify', '--verifier', verifier.client_id, '--issuer', issuer.client_id);
      expect(again.code).toBe(0);
      expect(again.out[0]).toContain('may already verify');
      const audit = await h.db.dataSource.query(
        `SELECT actor_type, subject_id, details FROM audit_events WHERE event_type = 'transaction_code.verifier_allowed' AND subject_id = $1`,
        [verifier.client_id],
      );
      expect(audit).toEqual([
        {
          actor_type: 'operator',
          subject_id: verifier.client_id,
          details: { verifier_client_id: verifier.client_id, issuer_client_id: issuer.client_id },
        },
      ]);
      expect((await txApi(h, 'POST', '/verify', verifierToken, { reference: 'CLI-1', code })).body).toEqual({ valid: true });

      // Refusals: exit 1 with one line; bad usage: exit 2.
      const cases: Array<[string[], RegExp]> = [
        [['--verifier', 'nobody', '--issuer', issuer.client_id], /no client "nobody" \(--verifier\)/u],
        [['--verifier', verifier.client_id, '--issuer', 'nobody'], /no client "nobody" \(--issuer\)/u],
        [['--verifier', issuer.client_id, '--issuer', verifier.client_id], /scope transaction_codes:verify/u],
        [['--verifier', verifier.client_id, '--issuer', verifier.client_id], /two different clients/u],
      ];
      for (const [args, message] of cases) {
        const run = await cli('client:allow-verify', ...args);
        expect(run.code).toBe(1);
        expect(run.err).toHaveLength(1);
        expect(run.err[0]).toMatch(message);
      }
      expect((await cli('client:allow-verify', '--verifier', verifier.client_id)).code).toBe(2);
      // Service scopes need the client_credentials grant.
      const badScope = await cli(
        'client:create',
        '--name',
        'Bad',
        '--redirect-uri',
        'https://a.example.com/cb',
        '--scope',
        'openid',
        '--scope',
        'transaction_codes',
      );
      expect(badScope.code).toBe(1);
      expect(badScope.err[0]).toMatch(/transaction_codes needs the client_credentials grant/u);
    });
  });

  describe('bearer tokens', () => {
    it("resolves a service's token and a user's token through the provider; revoked or unknown ones are null", async () => {
      h.clock.set(new Date());
      const provider = h.app.app.get<Provider>(OIDC_PROVIDER);
      const serviceAccess = await serviceToken(shop, 'transaction_codes');
      expect(await resolveBearer(provider, serviceAccess)).toEqual({
        kind: 'client',
        clientId: shop.clientId,
        scopes: ['transaction_codes'],
      });

      const who = await person();
      const rp = await registerApp(h, { name: 'Portal' });
      const { tokens } = await authorize(h, new WebClient(h.app.url), rp, who);
      const user = await resolveBearer(provider, tokens.access_token);
      expect(user).toEqual({
        kind: 'user',
        sub: who.id,
        userId: who.id,
        clientId: rp.clientId,
        scopes: expect.arrayContaining(['openid', 'profile', 'email']),
      });
      expect(tokens.claims()!.sub).toBe(who.id);
      expect(await resolveBearer(provider, tokens.access_token, { accountActive: async () => false })).toBeNull();

      await client.tokenRevocation(rp.config, tokens.access_token);
      expect(await resolveBearer(provider, tokens.access_token)).toBeNull();
      expect(await resolveBearer(provider, 'unknown-token')).toBeNull();
      expect(await resolveBearer(provider, 'bad token with spaces')).toBeNull();
    });
  });
});
