import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../../apps/cli/src/cli.js';

const ENTRY = path.resolve('dist/apps/gatehouse/src/main.js');

async function freePort(): Promise<number> {
  return await new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** `npm start` runs this entry after `nest build`: start it the same way and wait for every app. */
async function start(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  const ready = () =>
    out.includes('Gatehouse IdP:') &&
    out.includes('Support console:') &&
    out.includes('mail/SMS outbox:') &&
    (env.DEMO_PORT === '0' || out.includes('Demo portal:'));
  while (!ready()) {
    if (child.exitCode !== null) throw new Error(`exited early (${child.exitCode}):\n${out}`);
    if (Date.now() > deadline) throw new Error(`did not start in time:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, output: () => out };
}

async function stop(started: Started, signal: NodeJS.Signals): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => started.child.once('exit', (code) => resolve(code)));
  started.child.kill(signal);
  return await exited;
}

describe('npm start (embedded PostgreSQL, IdP, support console and demo portal, clean shutdown)', () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`npm run build\` (npm ci does it through "prepare")`);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gh-start-'));
    const [port, adminPort, demoPort] = [await freePort(), await freePort(), await freePort()];
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATA_DIR: dataDir,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      DEMO_PORT: String(demoPort),
      ARGON2_MEMORY_KIB: '8192',
    };
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts, serves the three apps, prints URLs and the outbox path, and stops cleanly on SIGINT', async () => {
    const started = await start(env);
    const out = started.output();
    expect(out).toContain(`http://localhost:${env.PORT}`);
    expect(out).toContain(`:${env.ADMIN_PORT}`);
    expect(out).toContain(`Demo portal:        http://localhost:${env.DEMO_PORT}`);
    expect(out).toContain(path.join(dataDir, 'outbox'));
    expect(out).toContain('embedded PostgreSQL');
    for (const port of [env.PORT, env.ADMIN_PORT, env.DEMO_PORT]) {
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    }
    // The demo portal registered itself at Gatehouse and sends its sign-in there.
    const file = path.join(dataDir, 'demo-portal.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const { client_id: clientId } = JSON.parse(await readFile(file, 'utf8')) as { client_id: string };
    const login = await fetch(`http://localhost:${env.DEMO_PORT}/login`, { redirect: 'manual' });
    const authorization = new URL(login.headers.get('location')!);
    expect(`${authorization.origin}${authorization.pathname}`).toBe(`http://localhost:${env.PORT}/oidc/auth`);
    expect(authorization.searchParams.get('client_id')).toBe(clientId);
    expect(authorization.searchParams.get('redirect_uri')).toBe(`http://localhost:${env.DEMO_PORT}/callback`);
    // Gatehouse knows that client: the request goes on to its sign-in interaction, not to an error page.
    const accepted = await fetch(authorization, { redirect: 'manual' });
    expect(accepted.status).toBe(303);
    expect(accepted.headers.get('location')).toMatch(/^\/interaction\/[A-Za-z0-9_-]+$/u);
    expect(await stop(started, 'SIGINT')).toBe(0);
    // PostgreSQL was stopped too: its pid file is gone and the ports are free.
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    await expect(fetch(`http://127.0.0.1:${env.PORT}/healthz`)).rejects.toThrow();
  });

  it('keeps its data (and the demo portal its registration) across restarts and stops cleanly on SIGTERM', async () => {
    const io = { out: () => undefined, err: () => undefined };
    expect(await runCli(['org:create', 'persisted', '--name', 'Persisted Org'], io, env)).toBe(0);
    const registration = await readFile(path.join(dataDir, 'demo-portal.json'), 'utf8');
    const started = await start(env);
    expect(started.output()).not.toContain('applied migration'); // already migrated on the first start
    expect(await readFile(path.join(dataDir, 'demo-portal.json'), 'utf8')).toBe(registration);
    expect(await stop(started, 'SIGTERM')).toBe(0);
    const err: string[] = [];
    expect(await runCli(['org:create', 'persisted', '--name', 'Again'], { out: () => undefined, err: (l) => err.push(l) }, env)).toBe(1);
    expect(err.join('\n')).toContain('already exists');
  });

  it('refuses to start with a clear message when the configuration is wrong', async () => {
    const child = spawn(process.execPath, [ENTRY], { env: { ...env, PORT: 'eighty' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toMatch(/PORT: .*port number/);
  });
});
