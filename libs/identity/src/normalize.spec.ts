import { LIMITS, checkEmail, checkLegacyUserId, checkMobile, checkName, type Checked } from './normalize.js';

function value<T>(result: Checked<T>): T {
  if (!result.ok) throw new Error(`expected ok, got: ${result.reason}`);
  return result.value;
}

function reason<T>(result: Checked<T>): string {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.value)}`);
  return result.reason;
}

/** Characters people cannot see or that change how text renders. */
const INVISIBLE: Array<[string, string]> = [
  ['NUL', '\u0000'],
  ['tab', '\t'],
  ['line feed', '\n'],
  ['carriage return', '\r'],
  ['DEL', '\u007f'],
  ['C1 control', '\u0085'],
  ['zero-width space U+200B', '\u200b'],
  ['zero-width joiner U+200D', '\u200d'],
  ['right-to-left mark U+200F', '\u200f'],
  ['bidi override U+202E', '\u202e'],
  ['bidi isolate U+2067', '\u2067'],
  ['word joiner U+2060', '\u2060'],
  ['BOM / zero-width no-break space U+FEFF', '\ufeff'],
];

describe('checkName', () => {
  it('trims, folds inner white space and NFC-normalizes', () => {
    expect(value(checkName('  Anna   Maria  ', 'first_name'))).toBe('Anna Maria');
    expect(value(checkName('Jose\u0301', 'first_name'))).toBe('José');
    expect(value(checkName("D'Angelo-Ñúñez", 'last_name'))).toBe("D'Angelo-Ñúñez");
    expect(value(checkName('李小龙', 'last_name'))).toBe('李小龙');
  });

  it.each(INVISIBLE)('rejects a %s anywhere in the name', (_name, ch) => {
    expect(reason(checkName(`Ann${ch}a`, 'first_name'))).toBe('first_name contains control or invisible characters');
    expect(reason(checkName(`Anna${ch}`, 'last_name'))).toBe('last_name contains control or invisible characters');
  });

  it('rejects a right-to-left override used to disguise a name', () => {
    expect(checkName('Mario\u202eissoR', 'last_name').ok).toBe(false);
  });

  it('rejects empty and blank names, naming the field', () => {
    expect(reason(checkName('', 'first_name'))).toBe('first_name is empty');
    expect(reason(checkName('   ', 'last_name'))).toBe('last_name is empty');
  });

  it('counts the length limit in code points, after normalization', () => {
    const emoji = '😀'; // two UTF-16 units, one code point
    expect(value(checkName(emoji.repeat(LIMITS.name), 'first_name'))).toBe(emoji.repeat(LIMITS.name));
    expect(reason(checkName(emoji.repeat(LIMITS.name + 1), 'first_name'))).toBe('first_name is longer than 100 characters');
    // e + combining acute accent composes to one code point under NFC
    expect(codePoints(value(checkName('e\u0301'.repeat(LIMITS.name), 'first_name')))).toBe(LIMITS.name);
    expect(value(checkName('a'.repeat(LIMITS.name), 'first_name'))).toHaveLength(LIMITS.name);
    expect(checkName('a'.repeat(LIMITS.name + 1), 'first_name').ok).toBe(false);
  });
});

describe('checkEmail', () => {
  it('keeps the local part as written, lower-cases the domain, and keys on the lower-cased local part', () => {
    expect(value(checkEmail('Anna.Rossi@Example.COM'))).toEqual({
      display: 'Anna.Rossi@example.com',
      key: 'anna.rossi@example.com',
    });
    expect(value(checkEmail('  anna.rossi@example.com  ')).key).toBe('anna.rossi@example.com');
  });

  it('accepts internationalized addresses: punycode domain in the key, NFC everywhere', () => {
    expect(value(checkEmail('josé@exämple.es'))).toEqual({ display: 'josé@exämple.es', key: 'josé@xn--exmple-cua.es' });
    // decomposed (NFD) spelling, upper case: the same key
    expect(value(checkEmail('JOSE\u0301@EXA\u0308MPLE.ES')).key).toBe('josé@xn--exmple-cua.es');
    // an already-punycoded domain is the same address
    expect(value(checkEmail('jose\u0301@xn--exmple-cua.es')).key).toBe('josé@xn--exmple-cua.es');
    expect(value(checkEmail('用户@例え.テスト')).key).toBe('用户@xn--r8jz45g.xn--zckzah');
    expect(value(checkEmail('user@münchen.de')).key).toBe('user@xn--mnchen-3ya.de');
  });

  it('accepts the ordinary special characters of a local part', () => {
    expect(value(checkEmail("o'brien+news_1@example.co.uk")).key).toBe("o'brien+news_1@example.co.uk");
  });

  it.each([
    ['quoted local part', '"john doe"@example.com'],
    ['quoted local part without spaces', '"john"@example.com'],
    ['IPv4 literal in brackets', 'user@[192.168.0.1]'],
    ['IPv6 literal', 'user@[IPv6:2001:db8::1]'],
    ['bare IPv4 domain', 'user@192.168.0.1'],
    ['short-form IPv4 domain', 'user@127.1'],
    ['hexadecimal IPv4 domain', 'user@0x7f.1'],
    ['no @', 'user.example.com'],
    ['two @', 'a@b@example.com'],
    ['empty local part', '@example.com'],
    ['empty domain', 'user@'],
    ['dotless domain', 'user@localhost'],
    ['leading dot in local part', '.user@example.com'],
    ['trailing dot in local part', 'user.@example.com'],
    ['double dot in local part', 'us..er@example.com'],
    ['space in local part', 'us er@example.com'],
    ['space in domain', 'user@exa mple.com'],
    ['underscore in domain', 'user@exa_mple.com'],
    ['empty domain label', 'user@example..com'],
    ['trailing dot on domain', 'user@example.com.'],
    ['label starting with a hyphen', 'user@-example.com'],
    ['percent-encoded domain', 'user@ex%61mple.com'],
    ['percent-encoded dot in the domain', 'user@exa%2emple.com'],
    ['comma', 'user,x@example.com'],
  ])('rejects %s', (_name, raw) => {
    expect(reason(checkEmail(raw))).toBe('email is not a valid address');
  });

  it.each(INVISIBLE)('rejects a %s', (_name, ch) => {
    expect(reason(checkEmail(`an${ch}na@example.com`))).toBe('email contains control or invisible characters');
    expect(reason(checkEmail(`anna@exam${ch}ple.com`))).toBe('email contains control or invisible characters');
  });

  it('rejects an empty address', () => {
    expect(reason(checkEmail(''))).toBe('email is empty');
    expect(reason(checkEmail('  '))).toBe('email is empty');
  });

  it('limits the local part to 64 and the address to 254 code points', () => {
    const domain = '@example.com';
    expect(checkEmail('a'.repeat(LIMITS.emailLocal) + domain).ok).toBe(true);
    expect(reason(checkEmail('a'.repeat(LIMITS.emailLocal + 1) + domain))).toBe('email is not a valid address');
    // code points, not UTF-16 units or bytes
    expect(checkEmail('𝒜'.repeat(LIMITS.emailLocal) + domain).ok).toBe(true);
    expect(checkEmail('é'.repeat(LIMITS.emailLocal) + domain).ok).toBe(true);

    const label = 'd'.repeat(60);
    const atLimit = 'a'.repeat(LIMITS.emailLocal) + '@' + `${label}.${label}.${label}.${'e'.repeat(6)}`;
    expect(codePoints(atLimit)).toBe(LIMITS.email);
    expect(checkEmail(atLimit).ok).toBe(true);
    const overLimit = 'a'.repeat(LIMITS.emailLocal) + '@' + `${label}.${label}.${label}.${'e'.repeat(7)}`;
    expect(reason(checkEmail(overLimit))).toBe('email is longer than 254 characters');
    // 254 code points of which some are astral: still within the limit
    const astral = '𝒜'.repeat(LIMITS.emailLocal) + '@' + `${label}.${label}.${label}.${'e'.repeat(6)}`;
    expect(astral.length).toBeGreaterThan(LIMITS.email);
    expect(checkEmail(astral).ok).toBe(true);
  });

  it('rejects a domain label over 63 characters', () => {
    expect(checkEmail(`user@${'x'.repeat(63)}.com`).ok).toBe(true);
    expect(checkEmail(`user@${'x'.repeat(64)}.com`).ok).toBe(false);
  });
});

describe('checkMobile', () => {
  it('normalizes E.164 numbers written with spaces, dashes or brackets', () => {
    expect(value(checkMobile('+393331234567'))).toBe('+393331234567');
    expect(value(checkMobile(' +39 333 123 4567 '))).toBe('+393331234567');
    expect(value(checkMobile('+39-333-1234567'))).toBe('+393331234567');
    expect(value(checkMobile('+1 (415) 555-2671'))).toBe('+14155552671');
  });

  it('rejects national formats with a reason that asks for E.164', () => {
    for (const raw of ['3331234567', '0039 333 1234567', '(415) 555-2671']) {
      expect(reason(checkMobile(raw))).toMatch(/E\.164/);
      expect(reason(checkMobile(raw))).toMatch(/\+/);
    }
  });

  it.each([
    ['letters', '+39333ABC4567'],
    ['an extension', '+393331234567 ext. 5'],
    ['too short', '+39'],
    ['an impossible number', '+3933312'],
    ['an unassigned country code', '+999123456789'],
    ['far too long', '+39' + '3'.repeat(30)],
    ['two plus signs', '++393331234567'],
  ])('rejects %s', (_name, raw) => {
    expect(checkMobile(raw).ok).toBe(false);
  });

  it.each(INVISIBLE.filter(([name]) => !['tab', 'line feed', 'carriage return'].includes(name)))(
    'rejects a %s inside the number',
    (_name, ch) => {
      expect(reason(checkMobile(`+39333${ch}1234567`))).toBe('mobile contains control or invisible characters');
      expect(checkMobile(`+393331234567${ch}`).ok).toBe(ch === '\ufeff');
    },
  );

  it('rejects a control character inside the number', () => {
    expect(checkMobile('+39333\t1234567').ok).toBe(false);
    expect(checkMobile('+39333\n1234567').ok).toBe(false);
  });
});

describe('checkLegacyUserId', () => {
  it('keeps the ID as written and keys it case-insensitively', () => {
    expect(value(checkLegacyUserId('  MRossi-01 '))).toEqual({ display: 'MRossi-01', key: 'mrossi-01' });
    expect(value(checkLegacyUserId('mrossi-01')).key).toBe(value(checkLegacyUserId('MROSSI-01')).key);
  });

  it('keys compatibility spellings the same (NFKC) and composes NFC', () => {
    expect(value(checkLegacyUserId('ＡＢＣ１２３')).key).toBe('abc123');
    expect(value(checkLegacyUserId('jose\u0301')).display).toBe('josé');
    expect(value(checkLegacyUserId('JOSE\u0301')).key).toBe(value(checkLegacyUserId('josé')).key);
  });

  it.each(INVISIBLE)('rejects a %s', (_name, ch) => {
    expect(reason(checkLegacyUserId(`abc${ch}def`))).toBe('legacy_user_id contains control or invisible characters');
  });

  it('rejects white space inside the ID, including non-breaking spaces', () => {
    expect(reason(checkLegacyUserId('m rossi'))).toBe('legacy_user_id contains white space');
    expect(reason(checkLegacyUserId('m\u00a0rossi'))).toBe('legacy_user_id contains white space');
    expect(reason(checkLegacyUserId('m\u3000rossi'))).toBe('legacy_user_id contains white space');
  });

  it('rejects an empty ID', () => {
    expect(reason(checkLegacyUserId(''))).toBe('legacy_user_id is empty');
    expect(reason(checkLegacyUserId('   '))).toBe('legacy_user_id is empty');
  });

  it('limits the ID to 128 code points', () => {
    expect(checkLegacyUserId('x'.repeat(LIMITS.legacyUserId)).ok).toBe(true);
    expect(checkLegacyUserId('😀'.repeat(LIMITS.legacyUserId)).ok).toBe(true);
    expect(reason(checkLegacyUserId('x'.repeat(LIMITS.legacyUserId + 1)))).toBe('legacy_user_id is longer than 128 characters');
    expect(checkLegacyUserId('😀'.repeat(LIMITS.legacyUserId + 1)).ok).toBe(false);
  });
});

function codePoints(s: string): number {
  return [...s].length;
}
