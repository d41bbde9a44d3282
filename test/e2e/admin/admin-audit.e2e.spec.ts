import { AuditService } from '#libs/audit';
import { FixedClock } from '#libs/core';
import { expectNoSecrets, seedStaff, staffClient, startConsole, type ConsoleHarness, type SeededStaff } from '../../support/admin.js';
import { seedOrganization, seedUser, text, type WebClient } from '../../support/web.js';

/**
 * The audit log viewer (capability 7): filters by subject, actor, event type (exact or a
 * prefix) and time, newest first, paged with "Older entries"; the same as JSON. It shows
 * no hash of the audit chain, and a bad filter is a clear message, not a crash.
 */
describe('support console: audit log viewer', () => {
  let h: ConsoleHarness;
  let web: WebClient;
  let sue: SeededStaff;
  let sam: SeededStaff;
  let ada: string;
  let bob: string;

  beforeAll(async () => {
    h = await startConsole();
    const ds = h.db.dataSource;
    const org = await seedOrganization(ds, 'audit-org');
    ada = await seedUser(ds, org, { enterpriseId: 'ada.l', password: 'user pass phrase 1', email: 'ada@example.com' });
    bob = await seedUser(ds, org, { enterpriseId: 'bob.b', password: 'user pass phrase 2', email: 'bob@example.com' });
    sue = await seedStaff(ds, { email: 'sue.port@example.com', name: 'Sue Port', role: 'support' });
    sam = await seedStaff(ds, { email: 'sam.super@example.com', name: 'Sam Super', role: 'supervisor' });

    // A morning of events, one every minute from 06:00, before the console's clock (09:00).
    const clock = new FixedClock('2026-06-01T06:00:00Z');
    const audit = new AuditService(ds, clock);
    const at = (minute: number) => clock.set(new Date(Date.UTC(2026, 5, 1, 6, minute)));
    for (let i = 0; i < 60; i++) {
      at(i);
      await audit.record({
        type: 'signin.failed',
        actor: { type: 'anonymous' },
        subject: { type: 'user', id: bob },
        ip: '198.51.100.7',
        details: { reason: 'wrong_password', n: i },
      });
    }
    at(61);
    await audit.record({
      type: 'recovery.locked',
      actor: { type: 'system' },
      subject: { type: 'user', id: ada },
      details: { failures: 5 },
    });
    at(62);
    await audit.record({
      type: 'recovery.unlocked',
      actor: { type: 'staff', id: sam.id },
      subject: { type: 'user', id: ada },
      details: { reason: 'ticket 42' },
    });
    at(63);
    await audit.record({
      type: 'device.revoked',
      actor: { type: 'staff', id: sue.id },
      subject: { type: 'user', id: ada },
      details: { reason: 'lost phone <script>' },
    });
    at(64);
    await audit.record({
      type: 'staff.disabled',
      actor: { type: 'staff', id: sam.id },
      subject: { type: 'staff', id: sue.id },
      details: { sessions_ended: 0 },
    });
    at(65);
    await audit.record({
      type: 'staff.enabled',
      actor: { type: 'staff', id: sam.id },
      subject: { type: 'staff', id: sue.id },
      details: { status: 'active' },
    });

    web = await staffClient(h, sue);
  });

  afterAll(async () => {
    await h.close();
  });

  /** Event types of the table rows, top to bottom. */
  const rows = (html: string): string[] => [...html.matchAll(/<tr>\s*<td>[^<]*<\/td>\s*<td>([a-z_.]+)<\/td>/gu)].map((m) => m[1]!);
  const view = async (query: string) => {
    const res = await web.get(`/audit?${query}`);
    expectNoSecrets(res.html.replace(/cursor=[A-Za-z0-9_-]+/gu, 'cursor=x'));
    return res;
  };

  it('shows the filter form and the newest entries first, to support as well', async () => {
    const res = await view('');
    expect(res.status).toBe(200);
    for (const label of ['Subject', 'Actor', 'Event type', 'From (UTC)', 'To (UTC)']) expect(res.html).toContain(`>${label}</label>`);
    const types = rows(res.html);
    expect(types).toHaveLength(50);
    // Sue's own sign-in (at 09:00) comes first.
    expect(types.slice(0, 3)).toContain('staff_session.started');
    expect(types).toContain('staff.enabled');
  });

  it('filters by subject (typed or a bare id), newest first', async () => {
    const typed = await view(`subject=user:${ada}`);
    expect(rows(typed.html)).toEqual(['device.revoked', 'recovery.unlocked', 'recovery.locked']);
    const bare = await view(`subject=${sue.id}`);
    expect(rows(bare.html).slice(-2)).toEqual(['staff.enabled', 'staff.disabled']);
    // The subject of a person links to their page.
    expect(typed.html).toContain(`<a href="/people/user/${ada}">${ada}</a>`);
  });

  it('filters by actor (type and id, or a type alone) and by event type or prefix', async () => {
    expect(rows((await view(`actor=staff:${sam.id}`)).html)).toEqual(['staff.enabled', 'staff.disabled', 'recovery.unlocked']);
    expect(rows((await view('actor=system&type=recovery.')).html)).toEqual(['recovery.locked']);
    expect(rows((await view('type=staff.')).html)).toEqual(['staff.enabled', 'staff.disabled']);
    expect(rows((await view('type=recovery.unlocked')).html)).toEqual(['recovery.unlocked']);
    // The details are shown, escaped.
    const revoked = await view('type=device.revoked');
    expect(revoked.html).toContain('lost phone &lt;script&gt;');
    expect(revoked.html).not.toContain('<script>');
  });

  it('filters by time (UTC, from inclusive, to exclusive)', async () => {
    const window = await view('from=2026-06-01T06:10&to=2026-06-01T06:13');
    expect(rows(window.html)).toEqual(['signin.failed', 'signin.failed', 'signin.failed']);
    expect(text(window.html)).toContain('"n":12');
    expect(text(window.html)).toContain('"n":10');
    expect(text(window.html)).not.toContain('"n":13');
  });

  it('pages with "Older entries", keeping the filters', async () => {
    const first = await view(`subject=user:${bob}`);
    expect(rows(first.html)).toHaveLength(50);
    const older = /<a href="(\/audit\?[^"]+)" rel="next">Older entries<\/a>/u.exec(first.html)![1]!.replace(/&amp;/gu, '&');
    expect(older).toContain(`subject=user%3A${bob}`);
    const second = await view(older.slice('/audit?'.length));
    expect(rows(second.html)).toHaveLength(10);
    expect(second.html).not.toContain('Older entries');
    expect(text(second.html)).toContain('"n":0');
    expect(second.html).toContain('Newest entries');
  });

  it('explains a bad filter instead of failing', async () => {
    const badType = await view('type=Not A Type');
    expect(badType.status).toBe(400);
    expect(text(badType.html)).toContain('eventType must be an event type');
    const badTime = await view('from=yesterday');
    expect(badTime.status).toBe(400);
    expect(text(badTime.html)).toContain('From must be a date and time (UTC)');
    const reversed = await view('from=2026-06-02T00:00&to=2026-06-01T00:00');
    expect(reversed.status).toBe(400);
    const badCursor = await view('cursor=nonsense!');
    expect(badCursor.status).toBe(400);
  });

  it('answers the same as JSON, with next_cursor, and never a chain hash', async () => {
    const res = await web.get(`/api/v1/audit?subject=user:${bob}&limit=25`);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.html) as { entries: Array<Record<string, unknown>>; next_cursor: string | null };
    expect(body.entries).toHaveLength(25);
    expect(body.entries[0]).toMatchObject({
      type: 'signin.failed',
      actor: { type: 'anonymous', id: null },
      subject: { type: 'user', id: bob },
      ip: '198.51.100.7',
    });
    expect(body.next_cursor).toEqual(expect.any(String));
    const next = JSON.parse((await web.get(`/api/v1/audit?subject=user:${bob}&limit=25&cursor=${body.next_cursor}`)).html) as typeof body;
    expect(next.entries).toHaveLength(25);
    expect(next.entries[0]!.id).not.toBe(body.entries[0]!.id);

    const hashes: Array<{ hash: string }> = await h.db.dataSource.query(`SELECT hash FROM audit_events WHERE subject_id = $1 LIMIT 5`, [
      bob,
    ]);
    for (const { hash } of hashes) expect(res.html).not.toContain(hash);
    expect(res.html).not.toMatch(/"(prev_)?hash"/u);

    const bad = await web.get('/api/v1/audit?type=BAD');
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/problem\+json/u);
    expect(JSON.parse(bad.html)).toMatchObject({ code: 'invalid_audit_search', field: 'eventType' });
  });

  it('links from the person page to the person’s audit log', async () => {
    const person = await web.get(`/people/user/${ada}`);
    expect(person.html).toContain(`href="/audit?subject=user:${ada}"`);
  });
});
