/**
 * Where `code` (a one-time code) stands in `text` as a value of its own, with 20 characters
 * of context each side; not where its digits merely occur inside a longer run of letters and
 * digits, such as a random UUID, a hash or a timestamp (a 6-digit code turns up in those by
 * chance). `expect(codeOccurrences(logs, code)).toEqual([])` shows the leaks when it fails.
 */
export function codeOccurrences(text: string, code: string): string[] {
  const escaped = code.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
  const pattern = new RegExp(`(?<![0-9A-Za-z])${escaped}(?![0-9A-Za-z])`, 'gu');
  return [...text.matchAll(pattern)].map((m) => text.slice(Math.max(0, m.index - 20), m.index + code.length + 20));
}
