import { httpLoggerOptions, REDACT_PATHS } from './logging.js';

describe('http logger options', () => {
  const options = httpLoggerOptions('idp', 'info') as { serializers: Record<string, (v: unknown) => unknown> };

  it('logs an error without its query parameters (they can hold hashes or tokens)', () => {
    const error = Object.assign(new Error('duplicate key'), {
      name: 'QueryFailedError',
      code: '23505',
      query: 'INSERT INTO users (password_hash) VALUES ($1)',
      parameters: ['$argon2id$v=19$m=19456,t=2,p=1$SECRET'],
      driverError: { detail: 'Key (token_hash)=(SECRET) exists' },
    });
    const logged = JSON.stringify(options.serializers.err!(error));
    expect(logged).toContain('duplicate key');
    expect(logged).toContain('23505');
    expect(logged).not.toContain('SECRET');
    expect(logged).not.toContain('password_hash');
  });

  it('logs the path of a request, never its query string', () => {
    const logged = options.serializers.req!({ id: 'r1', method: 'GET', url: '/cb?code=SECRET&state=x', headers: {} }) as { path: string };
    expect(logged.path).toBe('/cb');
  });

  it('redacts credential headers', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]']));
  });
});
