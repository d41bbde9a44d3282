import type { Catalog } from './catalog.js';
import { en } from './en.js';
import { it } from './it.js';

/** The languages messages are written in. */
export const MESSAGE_LOCALES = ['en', 'it'] as const;
export type MessageLocale = (typeof MESSAGE_LOCALES)[number];

/** Catalogues by language: one per MESSAGE_LOCALES entry (the type requires each, complete). */
const CATALOGS: Readonly<Record<MessageLocale, Catalog>> = { en, it };

/** The catalogue for a BCP 47 tag: exact, then its language, then English. */
export function resolveLocale(locale: string | undefined | null): MessageLocale {
  if (!locale) return 'en';
  const tag = locale.trim().toLowerCase();
  if (isMessageLocale(tag)) return tag;
  const language = tag.split(/[-_]/u)[0] ?? '';
  return isMessageLocale(language) ? language : 'en';
}

/** True when `locale` names a catalogue exactly (`en`, `it`). */
export function isMessageLocale(locale: unknown): locale is MessageLocale {
  return typeof locale === 'string' && Object.hasOwn(CATALOGS, locale);
}

/**
 * The best catalogue for an `Accept-Language` header (RFC 9110 §12.5.4: quality values,
 * a regional tag matches its language), or undefined when none is acceptable.
 */
export function negotiateLocale(acceptLanguage: string | undefined | null): MessageLocale | undefined {
  if (!acceptLanguage) return undefined;
  let best: { locale: MessageLocale; q: number; order: number } | undefined;
  acceptLanguage
    .slice(0, 1000)
    .split(',')
    .forEach((part, order) => {
      const [range = '', ...params] = part.trim().split(';');
      const qParam = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('q='));
      const q = qParam === undefined ? 1 : Number(qParam.slice(2));
      if (!Number.isFinite(q) || q <= 0 || q > 1) return;
      const language = range.trim().toLowerCase().split(/[-_]/u)[0] ?? '';
      if (!isMessageLocale(language)) return;
      if (!best || q > best.q || (q === best.q && order < best.order)) best = { locale: language, q, order };
    });
  return best?.locale;
}

/** The catalogue of a locale, English when there is none. */
export function catalog(locale: string): Catalog {
  return isMessageLocale(locale) ? CATALOGS[locale] : en;
}
