import { UUID_PATTERN, isUuid, isUuidAnyCase } from './text.js';

describe('UUID checks', () => {
  const lower = '0b7c6a3e-5f1d-4c2a-9e8b-7d6c5b4a3f21';

  it('isUuid takes a UUID as PostgreSQL writes it (lower case) and nothing else', () => {
    expect(isUuid(lower)).toBe(true);
    for (const bad of [
      lower.toUpperCase(),
      `${lower}\n`,
      ` ${lower}`,
      lower.slice(1),
      lower.replace(/-/gu, ''),
      `{${lower}}`,
      '',
      '0b7c6a3e-5f1d-4c2a-9e8b-7d6c5b4a3f2g',
    ]) {
      expect(isUuid(bad)).toBe(false);
    }
  });

  it('isUuidAnyCase also takes upper and mixed case, and nothing else', () => {
    for (const good of [lower, lower.toUpperCase(), '0B7c6A3e-5f1d-4C2a-9e8b-7d6c5b4a3f21']) expect(isUuidAnyCase(good)).toBe(true);
    for (const bad of [`${lower}\n`, lower.slice(1), lower.replace(/-/gu, ''), '', '０b7c6a3e-5f1d-4c2a-9e8b-7d6c5b4a3f21']) {
      expect(isUuidAnyCase(bad)).toBe(false);
    }
  });

  it('the SQL pattern is the same rule', () => {
    expect(new RegExp(UUID_PATTERN, 'u').test(lower)).toBe(true);
    expect(new RegExp(UUID_PATTERN, 'u').test(lower.toUpperCase())).toBe(false);
  });
});
