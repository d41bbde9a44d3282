import { createHash, randomBytes } from 'node:crypto';
import { searchTokens } from '#libs/people';
import { expectNoSecrets, seedStaff, staffClient, startConsole, type ConsoleHarness } from '../../support/admin.js';
import { seedLegacyAccount, seedOrganization, seedUser, text, type WebClient } from '../../support/web.js';

/**
 * Search (capability 1) and the read-only person page: users and pending legacy accounts
 * by Enterprise ID, legacy user ID, name, email or mobile, whatever the case and accents,
 * with paging; results carry status, organization, verified contacts, remembered devices,
 * recovery lock and open correction requests; nothing secret is ever shown.
 */
describe('support console: search and the person page', () => {
  let h: ConsoleHarness;
  let web: WebClient;
  const ids: Record<string, string> = {};
  const tokens: string[] = [];

  const sha = (v: string) => createHash('sha256').update(v).digest();

  beforeAll(async () => {
    h = await startConsole();
    const ds = h.db.dataSource;
    const acme = await seedOrganization(ds, 'acme');
    const globex = await seedOrganization(ds, 'globex');
    await ds.query(`UPDATE organizations SET name = 'Acme Corporation' WHERE id = $1`, [acme]);

    ids.zoe = await seedUser(ds, acme, {
      enterpriseId: 'z.angstrom',
      password: 'user pass phrase 1',
      email: 'Zoe.Angstrom@Example.com',
      mobile: '+393331234567',
    });
    await ds.query(`UPDATE users SET first_name = 'Zoë', last_name = 'Ångström' WHERE id = $1`, [ids.zoe]);
    ids.lukasz = await seedUser(ds, globex, {
      enterpriseId: 'lukasz.z',
      password: 'user pass phrase 2',
      email: 'lz@example.com',
      mobile: '+48601234567',
      mobileVerified: false,
    });
    await ds.query(
      `UPDATE users SET first_name = 'Łukasz', last_name = 'Żółć', recovery_locked_at = '2026-05-30T10:00:00Z', recovery_failed_attempts = 5 WHERE id = $1`,
      [ids.lukasz],
    );
    ids.strauss = await seedUser(ds, acme, {
      enterpriseId: 'j.strauss',
      password: 'user pass phrase 3',
      email: 'js@example.com',
      status: 'disabled',
    });
    await ds.query(`UPDATE users SET first_name = 'Johann', last_name = 'Strauß' WHERE id = $1`, [ids.strauss]);

    // Zoë enrolled from a legacy account: her old user ID finds her, as a user.
    await ds.query(
      `INSERT INTO legacy_accounts (organization_id, legacy_user_id, legacy_user_id_key, status, first_name, last_name, email, email_key, user_id, enrolled_at)
       VALUES ($1, 'OLD-ZA-77', 'old-za-77', 'enrolled', 'Zoe', 'Angstrom', 'zoe.angstrom@example.com', 'zoe.angstrom@example.com', $2, now())`,
      [acme, ids.zoe],
    );
    ids.zoeLegacy = (await ds.query(`SELECT id FROM legacy_accounts WHERE legacy_user_id = 'OLD-ZA-77'`))[0].id;
    await ds.query(
      `INSERT INTO correction_requests (legacy_account_id, organization_id, message, status, created_at) VALUES
         ($1, $2, 'My last name has a ring: Ångström', 'resolved', '2026-05-01T08:00:00Z')`,
      [ids.zoeLegacy, acme],
    );

    ids.renee = await seedLegacyAccount(ds, acme, {
      legacyUserId: 'EMP-4711',
      password: 'legacy pass 4711',
      firstName: 'Renée',
      lastName: 'Dubois',
      email: 'renee@example.com',
      mobile: '+33612345678',
    });
    await ds.query(
      `INSERT INTO correction_requests (legacy_account_id, organization_id, message, status, created_at) VALUES
         ($1, $2, 'Please spell my name Renée with an accent <b>bold</b>', 'open', '2026-05-31T08:00:00Z'),
         ($1, $2, 'Also my email is wrong', 'open', '2026-05-31T09:00:00Z'),
         ($1, $2, 'Old request', 'rejected', '2026-05-01T09:00:00Z')`,
      [ids.renee, acme],
    );

    // Remembered devices of Zoë: two that count, and a revoked, an expired and an outdated one that do not.
    const device = async (name: string, extra: { revoked?: boolean; expires?: string; version?: number } = {}) => {
      const token = randomBytes(32).toString('base64url');
      tokens.push(token);
      await ds.query(
        `INSERT INTO remembered_devices (user_id, token_hash, name, credential_version, policy_version, created_at, last_used_at, expires_at, revoked_at, revoked_reason, revoked_by)
         VALUES ($1, $2, $3, $4, 1, '2026-05-20T08:00:00Z', '2026-05-31T08:00:00Z', $5, $6, $7, $8)`,
        [
          ids.zoe,
          sha(token),
          name,
          extra.version ?? 1,
          extra.expires ?? '2026-06-20T08:00:00Z',
          extra.revoked ? '2026-05-25T08:00:00Z' : null,
          extra.revoked ? 'forgotten by user' : null,
          extra.revoked ? 'user:x' : null,
        ],
      );
    };
    await device('Firefox 140 on Linux');
    await device('Safari 18 on iOS');
    await device('Chrome 131 on Windows', { revoked: true });
    await device('Edge 120 on Windows', { expires: '2026-05-31T08:00:00Z' });
    await device('Opera 100 on macOS', { version: 0 });
    const session = randomBytes(32).toString('base64url');
    tokens.push(session);
    await ds.query(
      `INSERT INTO sessions (token_hash, user_id, credential_version, auth_time, verifications, acr, created_at, last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent)
       VALUES ($1, $2, 1, '2026-06-01T08:50:00Z', '[]', 'urn:gatehouse:loa:2', '2026-06-01T08:50:00Z', '2026-06-01T08:55:00Z', '2026-06-01T09:25:00Z', '2026-06-01T20:50:00Z', '203.0.113.9', 'Mozilla/5.0 Firefox/140')`,
      [sha(session), ids.zoe],
    );

    // 45 Müllers (users and legacy accounts, spelled in either case) for paging.
    for (let i = 0; i < 45; i++) {
      const n = String(i).padStart(2, '0');
      if (i % 3 === 0) {
        await seedLegacyAccount(ds, globex, {
          legacyUserId: `MUE-${n}`,
          password: 'legacy pass',
          firstName: `Anna${n}`,
          lastName: 'Müller',
          email: `mueller${n}@example.com`,
        });
      } else {
        const id = await seedUser(ds, globex, {
          enterpriseId: `mueller.${n}`,
          password: 'user pass phrase',
          email: `mueller${n}@example.com`,
        });
        await ds.query(`UPDATE users SET first_name = $2, last_name = 'MÜLLER' WHERE id = $1`, [id, `Anna${n}`]);
      }
    }

    const staff = await seedStaff(ds, { email: 'sue.port@example.com', name: 'Sue Port', role: 'support' });
    web = await staffClient(h, staff);
  });

  afterAll(async () => {
    await h.close();
  });

  /** The result links of the last search page: [href, accessible name]. */
  const results = (html: string): Array<[string, string]> =>
    [...html.matchAll(/<td><a href="(\/people\/[^"]+)">([^<]+)<\/a><\/td>/gu)].map((m) => [m[1]!, m[2]!.replace(/&#39;/gu, "'")]);
  const search = async (q: string, page?: number) => {
    const res = await web.get(`/search?q=${encodeURIComponent(q)}${page ? `&page=${page}` : ''}`);
    expect(res.status).toBe(200);
    expectNoSecrets(res.html, tokens);
    return results(res.html);
  };

  it('shows the Search field and button', async () => {
    const page = await web.get('/search');
    expect(page.html).toMatch(/<label for="f-q">Search<\/label>/u);
    expect(page.html).toMatch(/<button type="submit">Search<\/button>/u);
  });

  it.each([
    ['zoe angstrom', 'z.angstrom'],
    ['ZOË ÅNGSTRÖM', 'z.angstrom'],
    ['angström', 'z.angstrom'],
    ['lukasz zolc', 'lukasz.z'],
    ['ŁUKASZ', 'lukasz.z'],
    ['strauss', 'j.strauss'],
    ['Z.ANGSTROM', 'z.angstrom'],
    ['zoe.angstrom@example.com', 'z.angstrom'],
    ['old-za-77', 'z.angstrom'],
    ['+39 333 123 4567', 'z.angstrom'],
    ['3331234567', 'z.angstrom'],
    ['renee dubois', 'EMP-4711'],
    ['emp-4711', 'EMP-4711'],
    ['+33 6 12 34 56 78', 'EMP-4711'],
  ])('finds %j: %s', async (q, identifier) => {
    const found = await search(q);
    expect(found).toHaveLength(1);
    expect(found[0]![1]).toContain(identifier);
  });

  it('finds nobody for a word that matches no one, and says so', async () => {
    const res = await web.get('/search?q=nobody+zoe');
    expect(results(res.html)).toEqual([]);
    expect(text(res.html)).toContain('No one matches “nobody zoe”.');
  });

  it('shows status, organization, verified contacts, remembered devices, recovery lock and open correction requests', async () => {
    const res = await web.get(`/search?q=${encodeURIComponent('z.angstrom')}`);
    const row = (name: string) => {
      const match = new RegExp(`<tr>\\s*<td><a href="[^"]+">[^<]*${name}[^<]*</a></td>([\\s\\S]*?)</tr>`, 'u').exec(res.html);
      return text(match?.[1] ?? '');
    };
    expect(row('z.angstrom')).toBe('Active Acme Corporation Zoe.Angstrom@Example.com +393331234567 2 Unlocked 0');
    const lukasz = await web.get('/search?q=lukasz');
    expect(text(/<tbody>([\s\S]*)<\/tbody>/u.exec(lukasz.html)![1]!)).toBe(
      'lukasz.z · Łukasz Żółć Active globex lz@example.com 0 Locked 0',
    );
    const strauss = await web.get('/search?q=strauss');
    expect(text(/<tbody>([\s\S]*)<\/tbody>/u.exec(strauss.html)![1]!)).toContain('Disabled');
    const renee = await web.get('/search?q=renee');
    // Imported contacts are not verified; a pending account has no devices or lock; two requests are open.
    expect(text(/<tbody>([\s\S]*)<\/tbody>/u.exec(renee.html)![1]!)).toBe(
      'EMP-4711 · Renée Dubois Pending enrollment Acme Corporation none verified — — 2',
    );
  });

  it('pages through many matches, 20 at a time, in a stable order', async () => {
    const first = await web.get('/search?q=muller');
    expect(text(first.html)).toContain('45 people match (showing 1–20).');
    expect(first.html).toContain('href="/search?q=muller&amp;page=2"');
    expect(first.html).not.toContain('Previous page');
    const all = [...(await search('muller', 1)), ...(await search('MÜLLER', 2)), ...(await search('muller', 3))];
    expect(all).toHaveLength(45);
    expect(new Set(all.map(([href]) => href)).size).toBe(45);
    const last = await web.get('/search?q=muller&page=3');
    expect(text(last.html)).toContain('45 people match (showing 41–45).');
    expect(last.html).not.toContain('Next page');
    expect(last.html).toContain('Previous page');
    // Legacy accounts (MUE-..) and users (mueller...) are both there, each link named by its identifier.
    expect(all.filter(([, name]) => /^MUE-\d\d · /u.test(name))).toHaveLength(15);
    expect(all.filter(([, name]) => /^mueller\.\d\d · /u.test(name))).toHaveLength(30);
    const beyond = await web.get('/search?q=muller&page=9');
    expect(results(beyond.html)).toEqual([]);
  });

  it('answers the same search as JSON, with paging', async () => {
    const res = await web.get('/api/v1/search?q=m%C3%BCller&page=2');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.html) as { total: number; page: number; page_size: number; items: Array<Record<string, unknown>> };
    expect(body).toMatchObject({ total: 45, page: 2, page_size: 20 });
    expect(body.items).toHaveLength(20);
    const zoe = JSON.parse((await web.get('/api/v1/search?q=zoe')).html) as { items: Array<Record<string, unknown>> };
    expect(zoe.items[0]).toMatchObject({
      kind: 'user',
      enterprise_id: 'z.angstrom',
      legacy_user_id: 'OLD-ZA-77',
      status: 'active',
      organization: { slug: 'acme', name: 'Acme Corporation' },
      email: { address: 'Zoe.Angstrom@Example.com', verified: true },
      mobile: { number: '+393331234567', verified: true },
      remembered_devices: 2,
      recovery_locked: false,
      open_correction_requests: 0,
    });
    expectNoSecrets(JSON.stringify(zoe), tokens);
  });

  it('refuses an unusable query with a clear message', async () => {
    const res = await web.get(`/search?q=${encodeURIComponent('a\u0000b')}`);
    expect(res.status).toBe(422);
    expect(text(res.html)).toContain('Search for at most 200 visible characters.');
    const api = await web.get(`/api/v1/search?q=${'x'.repeat(201)}`);
    expect(api.status).toBe(422);
    expect(api.headers.get('content-type')).toMatch(/problem\+json/u);
  });

  it('opens a user: profile, contacts with verified state, devices, sessions, recovery and correction requests', async () => {
    const found = await search('zoe');
    const page = await web.get(found[0]![0]);
    expect(page.status).toBe(200);
    const visible = text(page.html);
    for (const part of [
      'Enterprise ID z.angstrom',
      'Legacy user ID OLD-ZA-77',
      'First name Zoë',
      'Organization Acme Corporation (acme)',
      'Zoe.Angstrom@Example.com verified',
      '+393331234567 verified',
      'Firefox 140 on Linux Active',
      'Chrome 131 on Windows Revoked (forgotten by user)',
      'Edge 120 on Windows Expired',
      'Opera 100 on macOS Needs a code again',
      '2026-06-01 08:50 UTC 2026-06-01 08:55 UTC loa:2 203.0.113.9',
      'Self-service recovery Unlocked',
      'My last name has a ring: Ångström',
    ]) {
      expect(visible).toContain(part);
    }
    expectNoSecrets(page.html, tokens);
    const lukasz = await web.get(`/people/user/${ids.lukasz}`);
    expect(text(lukasz.html)).toContain('+48601234567 not verified');
    expect(text(lukasz.html)).toContain('Locked since 2026-05-30 10:00 UTC');
  });

  it('opens a pending legacy account, escaping what the person wrote', async () => {
    const page = await web.get(`/people/legacy_account/${ids.renee}`);
    expect(page.status).toBe(200);
    const visible = text(page.html);
    expect(visible).toContain('Legacy user ID EMP-4711');
    expect(visible).toContain('Pending enrollment');
    expect(visible).toContain('renee@example.com (imported, not verified)');
    expect(page.html).toContain('Please spell my name Renée with an accent &lt;b&gt;bold&lt;/b&gt;');
    expect(page.html).not.toContain('<b>bold</b>');
    expect(visible).not.toContain('Remembered devices');
    expectNoSecrets(page.html, tokens);
  });

  it('sends an enrolled legacy account to its user, and answers an unknown person 404', async () => {
    const moved = await web.get(`/people/legacy_account/${ids.zoeLegacy}`, false);
    expect(moved.status).toBe(303);
    expect(moved.location).toBe(`/people/user/${ids.zoe}`);
    expect((await web.get('/people/user/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await web.get('/people/user/not-a-uuid')).status).toBe(404);
    expect((await web.get(`/people/robot/${ids.zoe}`)).status).toBe(404);
    const api = await web.get(`/api/v1/people/user/${ids.zoe}`);
    const body = JSON.parse(api.html) as Record<string, unknown>;
    expect(body).toMatchObject({ enterprise_id: 'z.angstrom', recovery: { locked: false, failed_attempts: 0 } });
    expect((body.devices as unknown[]).length).toBe(5);
    expect((body.sessions as unknown[]).length).toBe(1);
    expectNoSecrets(api.html, tokens);
  });

  it('records who opened whose record, by page or API', async () => {
    const views: Array<{ subject_type: string; subject_id: string; actor_type: string; details: { via: string } }> =
      await h.db.dataSource.query(
        `SELECT subject_type, subject_id, actor_type, details FROM audit_events WHERE event_type = 'person.viewed' AND subject_id = $1 ORDER BY id`,
        [ids.zoe],
      );
    expect(views.map((v) => v.details.via)).toEqual(['page', 'api']);
    expect(views[0]).toMatchObject({ subject_type: 'user', actor_type: 'staff' });
    const [{ n }] = await h.db.dataSource.query(
      `SELECT count(*)::int AS n FROM audit_events WHERE event_type = 'person.viewed' AND subject_id = $1`,
      [ids.renee],
    );
    expect(n).toBe(1);
  });

  it('has a secret scanner that would notice a hash, a digest or a token', () => {
    expect(() => expectNoSecrets('<td>$argon2id$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA</td>')).toThrow(/argon2/u);
    expect(() => expectNoSecrets(`<td>${createHash('sha256').update('x').digest('hex')}</td>`)).toThrow(/digest/u);
    expect(() => expectNoSecrets(`<td>${randomBytes(32).toString('base64url')}</td>`)).toThrow(/token/u);
    expect(() => expectNoSecrets('<td>123456</td>', ['123456'])).toThrow(/secret/u);
    expect(() => expectNoSecrets(`<input id="device-${ids.zoe}" />`)).not.toThrow();
  });

  it('makes one word of a phone number and keeps at most 8 words', () => {
    expect(searchTokens(' +39 (333) 123-4567 ')).toEqual(['+393331234567']);
    expect(searchTokens('a b c d e f g h i j')).toHaveLength(8);
    expect(searchTokens('   ')).toEqual([]);
  });
});
