import { DomainError } from '#libs/core';
import { checkRedirectUri, clientSecretMatches, hashClientSecret, validateClientInput } from './clients.js';
import { decryptJwk, encryptJwk } from './signing-keys.js';

describe('client secrets', () => {
  it('are stored as a SHA-256 hash and compared in constant time', () => {
    const stored = hashClientSecret('s3cret-value');
    expect(stored).toMatch(/^sha256:[0-9a-f]{64}$/u);
    expect(clientSecretMatches(stored, 's3cret-value')).toBe(true);
    expect(clientSecretMatches(stored, 's3cret-valuf')).toBe(false);
    expect(clientSecretMatches(stored, stored)).toBe(false);
    expect(clientSecretMatches(undefined, 's3cret-value')).toBe(false);
    expect(clientSecretMatches('plain', 'plain')).toBe(false);
    expect(clientSecretMatches(stored, undefined)).toBe(false);
  });
});

describe('client registration input', () => {
  it('defaults to the code and refresh grants and every OpenID scope', () => {
    expect(validateClientInput({ name: '  Portal ', redirectUris: ['https://p.example.com/cb'] })).toEqual({
      name: 'Portal',
      redirectUris: ['https://p.example.com/cb'],
      postLogoutRedirectUris: [],
      backchannelLogoutUri: null,
      public: false,
      grants: ['authorization_code', 'refresh_token'],
      scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', 'gatehouse'],
      pkceRequired: true,
    });
  });

  it('requires PKCE unless a confidential sign-in client opts out', () => {
    const uris = { redirectUris: ['https://a.example/cb'] };
    expect(validateClientInput({ name: 'x', ...uris, pkceRequired: false }).pkceRequired).toBe(false);
    expect(validateClientInput({ name: 'x', ...uris, public: true }).pkceRequired).toBe(true);
    expect(() => validateClientInput({ name: 'x', ...uris, public: true, pkceRequired: false })).toThrow(
      /public client cannot make PKCE optional/u,
    );
    expect(() => validateClientInput({ name: 'x', grants: ['client_credentials'], pkceRequired: false })).toThrow(/authorization_code/u);
  });

  it('accepts https, and http only on the loopback', () => {
    expect(checkRedirectUri('https://p.example.com/cb?x=1')).toBe('https://p.example.com/cb?x=1');
    expect(checkRedirectUri('http://localhost:3002/cb')).toBe('http://localhost:3002/cb');
    expect(checkRedirectUri('http://127.0.0.1/cb')).toBe('http://127.0.0.1/cb');
    for (const bad of [
      'http://p.example.com/cb',
      'https://p.example.com/cb#x',
      'https://u:p@p.example.com/cb',
      '/cb',
      'javascript:alert(1)',
    ]) {
      expect(() => checkRedirectUri(bad)).toThrow(DomainError);
    }
  });

  it('refuses inconsistent grants', () => {
    expect(() => validateClientInput({ name: 'x', grants: ['refresh_token'] })).toThrow(/needs the authorization_code grant/u);
    expect(() => validateClientInput({ name: 'x', public: true, grants: ['client_credentials'] })).toThrow(/public client/u);
    expect(() => validateClientInput({ name: 'x', grants: ['client_credentials'], redirectUris: ['https://a.example/cb'] })).toThrow(
      /only for clients with the authorization_code grant/u,
    );
    expect(() => validateClientInput({ name: 'x', redirectUris: ['https://a.example/cb'], scopes: ['profile'] })).toThrow(/openid/u);
    expect(validateClientInput({ name: 'Svc', grants: ['client_credentials'] })).toMatchObject({
      grants: ['client_credentials'],
      scopes: [],
    });
  });
});

describe('signing keys at rest', () => {
  const key = Buffer.alloc(32, 7);
  const jwk = { kty: 'RSA', n: 'abc', e: 'AQAB', d: 'secret-part' };

  it('round-trips, bound to the key id and algorithm', () => {
    const sealed = encryptJwk(key, 'kid-1', 'RS256', jwk);
    expect(sealed.toString('latin1')).not.toContain('secret-part');
    expect(decryptJwk(key, 'kid-1', 'RS256', sealed)).toEqual(jwk);
    expect(() => decryptJwk(key, 'kid-2', 'RS256', sealed)).toThrow();
    expect(() => decryptJwk(Buffer.alloc(32, 8), 'kid-1', 'RS256', sealed)).toThrow();
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => decryptJwk(key, 'kid-1', 'RS256', tampered)).toThrow();
  });
});
