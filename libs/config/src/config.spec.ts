import { ConfigError, loadConfig } from './config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const SECRET = 'x'.repeat(40);
const PRODUCTION = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://gh:pw@db:5432/gatehouse',
  SMTP_URL: 'smtp://mail:587',
  OTP_SECRET: SECRET,
  COOKIE_SECRET: SECRET,
  KEY_ENCRYPTION_KEY: SECRET,
  ISSUER: 'https://id.example.com',
};

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      nodeEnv: 'development',
      port: 3000,
      adminPort: 3001,
      demoPort: 3002,
      issuer: 'http://localhost:3000',
      databaseUrl: undefined,
      smtpUrl: undefined,
      mailFrom: 'Gatehouse <no-reply@localhost>',
      argon2: { memoryKiB: 19456, timeCost: 2, parallelism: 1 },
    });
    expect(config.dataDir).toMatch(/\.data$/);
    expect(config.outboxDir).toMatch(/\.data\/outbox$/);
  });

  it('derives the issuer from PORT and strips a trailing slash from ISSUER', () => {
    expect(loadConfig({ PORT: '4000' }).issuer).toBe('http://localhost:4000');
    expect(loadConfig({ ISSUER: 'https://id.example.com/' }).issuer).toBe('https://id.example.com');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.argon2)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    [{ PORT: 'eighty' }, /^PORT: .*port number.*\(got "eighty"\)/],
    [{ ADMIN_PORT: '70000' }, /^ADMIN_PORT: expected a port between 0 and 65535/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL: expected a URL such as postgres:/],
    [{ SMTP_URL: 'http://mail' }, /^SMTP_URL: expected a URL such as smtp:/],
    [{ NODE_ENV: 'staging' }, /^NODE_ENV: /],
    [{ OTP_SECRET: 'short' }, /^OTP_SECRET: expected at least 32 characters/],
    [{ ARGON2_MEMORY_KIB: '1024' }, /^ARGON2_MEMORY_KIB: expected a whole number from 8192/],
  ])('names the variable and what is expected for %p', (env, message) => {
    const found = problems(env);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('never echoes a secret or URL value in an error', () => {
    const [problem] = problems({ OTP_SECRET: 'tooshort-but-secret' });
    expect(problem).not.toContain('tooshort-but-secret');
    const [urlProblem] = problems({ DATABASE_URL: 'mysql://user:hunter2@db' });
    expect(urlProblem).not.toContain('hunter2');
  });

  it('accepts a complete production environment', () => {
    expect(loadConfig(PRODUCTION).nodeEnv).toBe('production');
  });

  it.each(['DATABASE_URL', 'SMTP_URL', 'OTP_SECRET', 'COOKIE_SECRET', 'KEY_ENCRYPTION_KEY'])('refuses production without %s', (name) => {
    const env: Record<string, string> = { ...PRODUCTION };
    delete env[name];
    expect(problems(env)).toEqual([expect.stringMatching(new RegExp(`^${name}: required in production`))]);
  });

  it('refuses production with an http issuer or none', () => {
    expect(problems({ ...PRODUCTION, ISSUER: 'http://id.example.com' })).toEqual([expect.stringMatching(/^ISSUER: must be an https URL/)]);
    const env: Record<string, string> = { ...PRODUCTION };
    delete env.ISSUER;
    expect(problems(env)).toEqual([expect.stringMatching(/^ISSUER: must be an https URL/)]);
  });
});
