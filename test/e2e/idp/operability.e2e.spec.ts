import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { startApp, type RunningApp } from '../../support/apps.js';

describe('operability: health, readiness, request ids and log hygiene', () => {
  let db: TestDatabase;
  const apps: RunningApp[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    apps.push(await startApp('idp', db.url), await startApp('admin', db.url));
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await db.drop();
  });

  it.each([0, 1])('serves /healthz and /readyz on both apps (app %i)', async (i) => {
    const { url } = apps[i]!;
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('gives every response a request id, keeping a well-formed one from the caller', async () => {
    const { url, logs } = apps[0]!;
    const own = await fetch(`${url}/nowhere`, { headers: { 'X-Request-Id': 'trace-abc.123' } });
    expect(own.headers.get('x-request-id')).toBe('trace-abc.123');
    const made = await fetch(`${url}/nowhere`, { headers: { 'X-Request-Id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const line = logs.lines.map((l) => JSON.parse(l) as { req?: { id?: string } }).find((l) => l.req?.id === 'trace-abc.123');
    expect(line).toBeDefined();
  });

  it('writes structured JSON logs that never contain credentials from headers, query or body', async () => {
    const { url, logs } = apps[0]!;
    const secrets = ['Bearer-SECRET-TOKEN-1', 'sid=SECRET-COOKIE-2', 'SECRET-CODE-3', 'SECRET-PASSWORD-4', '987654'];
    await fetch(`${url}/oidc/callback?code=SECRET-CODE-3&state=x`, {
      headers: { Authorization: `Bearer ${secrets[0]}`, Cookie: secrets[1]! },
    });
    await fetch(`${url}/signin`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ password: secrets[3], otp: secrets[4] }),
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const line of logs.lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    const all = logs.text;
    expect(all).toContain('/oidc/callback');
    for (const secret of secrets) expect(all).not.toContain(secret);
  });

  it('serves security headers (helmet) and no x-powered-by', async () => {
    const res = await fetch(`${apps[0]!.url}/healthz`);
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([0, 1])('answers a malformed or oversized body with an RFC 9457 problem before any route runs (app %i)', async (i) => {
    const { url } = apps[i]!;
    const post = (body: string, type = 'application/json') =>
      fetch(`${url}/api/v1/signin`, { method: 'POST', headers: { 'Content-Type': type }, body });
    const malformed = await post('{"user_id": "x",');
    expect(malformed.status).toBe(400);
    expect(malformed.headers.get('content-type')).toContain('application/problem+json');
    expect(await malformed.json()).toMatchObject({ status: 400, code: 'malformed_body' });
    const huge = await post(JSON.stringify({ user_id: 'x'.repeat(200_000) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ status: 413, code: 'body_too_large' });
    const form = await post(`a=${'y'.repeat(200_000)}`, 'application/x-www-form-urlencoded');
    expect(form.status).toBe(413);
    expect(form.headers.get('content-type')).toContain('application/problem+json');
  });

  it('reports not ready (503) when its database goes away, while /healthz stays up', async () => {
    const doomed = await createTestDatabase();
    const app = await startApp('idp', doomed.url);
    try {
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      await doomed.drop();
      const ready = await fetch(`${app.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
