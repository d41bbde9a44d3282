import { codePointLength, foldKey, hasForbiddenCharacters } from '#libs/core';
import type { Checked } from './normalize.js';

export interface EnterpriseId {
  /** As chosen, NFKC-normalized. */
  display: string;
  /** Case-insensitive key (unique). */
  key: string;
  /** Confusable-folded form (unique): look-alike IDs share it. */
  skeleton: string;
}

// Cyrillic and Greek letters that look like Latin ones (after lower-casing).
const HOMOGLYPHS: Record<string, string> = {
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  і: 'i',
  ї: 'i',
  ј: 'j',
  ѕ: 's',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  һ: 'h',
  ӏ: 'l',
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ω: 'w',
  γ: 'y',
};
// Then characters that people confuse with one another in common fonts.
const LOOKALIKES: Array<[RegExp, string]> = [
  [/rn/gu, 'm'],
  [/vv/gu, 'w'],
  [/cl/gu, 'd'],
  [/[1i|]/gu, 'l'],
  [/0/gu, 'o'],
  [/5/gu, 's'],
  [/[._-]/gu, ''],
];

/** UTS #39-style skeleton, simplified to what an Enterprise ID may contain. */
export function skeletonOf(value: string): string {
  let s = foldKey(value).normalize('NFD').replace(/\p{M}/gu, '');
  s = Array.from(s, (ch) => HOMOGLYPHS[ch] ?? ch).join('');
  for (const [pattern, replacement] of LOOKALIKES) s = s.replace(pattern, replacement);
  return s;
}

const SCRIPTS = ['Latin', 'Cyrillic', 'Greek', 'Arabic', 'Hebrew', 'Han', 'Hiragana', 'Katakana', 'Hangul', 'Thai', 'Devanagari'] as const;

function scriptsOf(value: string): Set<string> {
  const found = new Set<string>();
  for (const ch of value) {
    if (!/\p{L}/u.test(ch)) continue;
    const script = SCRIPTS.find((s) => new RegExp(`\\p{Script=${s}}`, 'u').test(ch));
    found.add(script ?? 'Other');
  }
  return found;
}

/**
 * An Enterprise ID: 3–64 characters of letters, digits, `.`, `_` and `-`, starting and
 * ending with a letter or digit, letters of one script only. Compared case-insensitively
 * after NFKC.
 */
export function checkEnterpriseId(raw: string): Checked<EnterpriseId> {
  if (hasForbiddenCharacters(raw)) return { ok: false, reason: 'The Enterprise ID contains invisible or control characters.' };
  const display = raw.trim().normalize('NFKC');
  const length = codePointLength(display);
  if (length < 3 || length > 64) return { ok: false, reason: 'The Enterprise ID must be 3 to 64 characters long.' };
  if (!/^[\p{L}\p{N}._-]+$/u.test(display)) {
    return { ok: false, reason: 'The Enterprise ID may contain only letters, digits, dots, underscores and hyphens.' };
  }
  if (!/^[\p{L}\p{N}].*[\p{L}\p{N}]$/u.test(display)) {
    return { ok: false, reason: 'The Enterprise ID must start and end with a letter or digit.' };
  }
  if (/[._-]{2}/u.test(display)) return { ok: false, reason: 'The Enterprise ID may not contain two separators in a row.' };
  if (scriptsOf(display).size > 1) return { ok: false, reason: 'The Enterprise ID may not mix letters of different alphabets.' };
  return { ok: true, value: { display, key: foldKey(display), skeleton: skeletonOf(display) } };
}
