/**
 * Calendar days in IANA time zones, with the platform's Intl data (no dependency). Pure
 * functions of their arguments: "now" is always passed in.
 */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/u;
// IANA names: `Europe/Rome`, `America/Argentina/Buenos_Aires`, `Etc/GMT+1`, `UTC`. Not raw offsets.
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/u;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      era: 'short',
    });
    if (formatters.size > 500) formatters.clear();
    formatters.set(zone, f);
  }
  return f;
}

/** Whether `zone` is an IANA time zone name the platform knows (offsets such as `+01:00` are not accepted). */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone.length > 64 || !ZONE_NAME.test(zone)) return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** A calendar date, `YYYY-MM-DD`. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** Parses `YYYY-MM-DD` (a real date of the proleptic Gregorian calendar, years 2000..9999), or null. */
export function parseLocalDate(value: unknown): LocalDate | null {
  if (typeof value !== 'string') return null;
  const m = DATE.exec(value);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 2000) return null;
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return null;
  return { year, month, day };
}

export function formatLocalDate(d: LocalDate): string {
  return `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;
}

/** The wall-clock reading in `zone` at `instant`, as milliseconds of a UTC calendar (Date.UTC of the local fields). */
function wallClock(instant: number, zone: string): number {
  const parts: Record<string, string> = {};
  for (const p of formatter(zone).formatToParts(new Date(instant))) parts[p.type] = p.value;
  const year = parts.era === 'BC' ? 1 - Number(parts.year) : Number(parts.year);
  return Date.UTC(year, Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
}

/** The calendar date in `zone` at `instant`. */
export function localDateAt(instant: Date, zone: string): LocalDate {
  const wall = new Date(wallClock(instant.getTime(), zone));
  return { year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1, day: wall.getUTCDate() };
}

/** Whole days from `a` to `b` (b - a). */
export function daysBetween(a: LocalDate, b: LocalDate): number {
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / 86_400_000);
}

export function addDays(d: LocalDate, days: number): LocalDate {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day + days));
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

const HOUR = 3_600_000;

/**
 * The first instant of `date` in `zone`: usually local midnight. Exact to the millisecond,
 * without a table of offsets. The offsets in force a day either side give the candidates
 * (local midnight read with each offset); the earliest that really shows midnight on the
 * wall clock wins, so where midnight occurs twice (clocks go back at 01:00 to 00:00) the
 * day starts at the first. Where a zone skips midnight (clocks jump from 23:59:59 to
 * 01:00, as America/Santiago did) no candidate shows it, and a bisection on the wall clock
 * finds the jump, where the day starts.
 */
export function startOfLocalDay(date: LocalDate, zone: string): Date {
  const target = Date.UTC(date.year, date.month - 1, date.day);
  // UTC offsets lie within -12..+14 hours, so the start is within a day of `target` read as UTC.
  const lowest = target - 26 * HOUR;
  const highest = target + 26 * HOUR;
  const offsets = new Set([lowest, target, highest].map((t) => wallClock(t, zone) - t));
  const exact = [...offsets].map((o) => target - o).filter((t) => wallClock(t, zone) === target);
  if (exact.length) return new Date(Math.min(...exact));
  let lo = lowest; // wall clock certainly before the date
  let hi = highest; // wall clock certainly on or after it
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (wallClock(mid, zone) >= target) hi = mid;
    else lo = mid;
  }
  return new Date(hi);
}

/** The instant `date` ends in `zone`: the first instant of the next local day. */
export function endOfLocalDay(date: LocalDate, zone: string): Date {
  return startOfLocalDay(addDays(date, 1), zone);
}
