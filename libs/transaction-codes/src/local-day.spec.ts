import { addDays, daysBetween, endOfLocalDay, isTimeZone, localDateAt, parseLocalDate, startOfLocalDay } from './local-day.js';

const d = (value: string) => parseLocalDate(value)!;
const iso = (date: Date) => date.toISOString();

describe('parseLocalDate', () => {
  it('accepts real dates only', () => {
    expect(parseLocalDate('2026-03-29')).toEqual({ year: 2026, month: 3, day: 29 });
    expect(parseLocalDate('2028-02-29')).toEqual({ year: 2028, month: 2, day: 29 });
    for (const bad of ['2026-02-29', '2026-13-01', '2026-3-29', '29/03/2026', '2026-03-29T00:00', '1999-12-31', '', 20260329, null]) {
      expect(parseLocalDate(bad)).toBeNull();
    }
  });

  it('counts and adds days across month and year ends', () => {
    expect(addDays(d('2026-12-31'), 1)).toEqual(d('2027-01-01'));
    expect(daysBetween(d('2026-03-01'), d('2026-04-01'))).toBe(31);
    expect(daysBetween(d('2026-04-01'), d('2026-03-31'))).toBe(-1);
  });
});

describe('isTimeZone', () => {
  it('knows IANA names and refuses offsets, junk and unknown zones', () => {
    for (const zone of ['Europe/Rome', 'America/Argentina/Buenos_Aires', 'UTC', 'Etc/GMT+1', 'Asia/Kolkata']) {
      expect(isTimeZone(zone)).toBe(true);
    }
    for (const zone of ['Mars/Olympus_Mons', '+01:00', 'Europe/Rome\n', '../etc/passwd', '', 'x'.repeat(65), 1, undefined]) {
      expect(isTimeZone(zone)).toBe(false);
    }
  });
});

describe('end of a local day', () => {
  it('is local midnight at the UTC offset of the next day (Europe/Rome, CET and CEST)', () => {
    expect(iso(endOfLocalDay(d('2026-01-15'), 'Europe/Rome'))).toBe('2026-01-15T23:00:00.000Z');
    expect(iso(endOfLocalDay(d('2026-07-15'), 'Europe/Rome'))).toBe('2026-07-15T22:00:00.000Z');
  });

  it('spans 23 hours on the day clocks go forward and 25 when they go back (Europe/Rome)', () => {
    // 29 March 2026: 02:00 CET becomes 03:00 CEST. 25 October 2026: 03:00 CEST becomes 02:00 CET.
    const marchStart = startOfLocalDay(d('2026-03-29'), 'Europe/Rome');
    const marchEnd = endOfLocalDay(d('2026-03-29'), 'Europe/Rome');
    expect(iso(marchStart)).toBe('2026-03-28T23:00:00.000Z');
    expect(iso(marchEnd)).toBe('2026-03-29T22:00:00.000Z');
    expect((marchEnd.getTime() - marchStart.getTime()) / 3_600_000).toBe(23);
    const octoberStart = startOfLocalDay(d('2026-10-25'), 'Europe/Rome');
    const octoberEnd = endOfLocalDay(d('2026-10-25'), 'Europe/Rome');
    expect(iso(octoberStart)).toBe('2026-10-24T22:00:00.000Z');
    expect(iso(octoberEnd)).toBe('2026-10-25T23:00:00.000Z');
    expect((octoberEnd.getTime() - octoberStart.getTime()) / 3_600_000).toBe(25);
  });

  it('works far from UTC, on both sides of the date line, and with half-hour offsets', () => {
    expect(iso(endOfLocalDay(d('2026-06-01'), 'Pacific/Kiritimati'))).toBe('2026-06-01T10:00:00.000Z'); // +14
    expect(iso(endOfLocalDay(d('2026-06-01'), 'Pacific/Pago_Pago'))).toBe('2026-06-02T11:00:00.000Z'); // -11
    expect(iso(endOfLocalDay(d('2026-06-01'), 'Asia/Kolkata'))).toBe('2026-06-01T18:30:00.000Z'); // +05:30
    expect(iso(endOfLocalDay(d('2026-06-01'), 'UTC'))).toBe('2026-06-02T00:00:00.000Z');
  });

  it('starts a day at the jump where a zone skips midnight (America/Santiago, 2022-09-11 00:00 -> 01:00)', () => {
    const start = startOfLocalDay(d('2022-09-11'), 'America/Santiago');
    expect(iso(start)).toBe('2022-09-11T04:00:00.000Z');
    expect(localDateAt(start, 'America/Santiago')).toEqual(d('2022-09-11'));
    expect(localDateAt(new Date(start.getTime() - 1000), 'America/Santiago')).toEqual(d('2022-09-10'));
  });

  it('takes the first of two midnights where clocks go back at 01:00 to 00:00 (America/Havana, 2022-11-06)', () => {
    // 01:00 -04 became 00:00 -05: midnight showed at 04:00Z and again at 05:00Z.
    expect(iso(startOfLocalDay(d('2022-11-06'), 'America/Havana'))).toBe('2022-11-06T04:00:00.000Z');
    // Where clocks go back at midnight to 23:00 (America/Santiago, 2022-04-03), the day starts at the one midnight there is.
    expect(iso(startOfLocalDay(d('2022-04-03'), 'America/Santiago'))).toBe('2022-04-03T04:00:00.000Z');
  });

  it('reads the local date of an instant', () => {
    expect(localDateAt(new Date('2026-03-28T22:59:59Z'), 'Europe/Rome')).toEqual(d('2026-03-28'));
    expect(localDateAt(new Date('2026-03-28T23:00:00Z'), 'Europe/Rome')).toEqual(d('2026-03-29'));
  });
});
