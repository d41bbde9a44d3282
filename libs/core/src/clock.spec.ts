import { Duration, FixedClock } from './clock.js';
import { foldKey, hasForbiddenCharacters } from './text.js';

describe('Duration and FixedClock', () => {
  it('keeps units apart: 30 days is 30 days, not 30 days of seconds', () => {
    const clock = new FixedClock('2026-01-01T00:00:00Z');
    const expiry = Duration.ofDays(30).after(clock.now());
    expect(expiry.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(Duration.ofMinutes(10).seconds).toBe(600);
    expect(Duration.ofSeconds(90).milliseconds).toBe(90_000);
  });

  it('moves only when told to', () => {
    const clock = new FixedClock('2026-03-29T00:30:00Z');
    expect(clock.now().toISOString()).toBe('2026-03-29T00:30:00.000Z');
    clock.advance(Duration.ofHours(2));
    expect(clock.now().toISOString()).toBe('2026-03-29T02:30:00.000Z');
  });

  it('refuses negative or non-finite durations', () => {
    expect(() => Duration.ofSeconds(-1)).toThrow(RangeError);
    expect(() => Duration.ofMilliseconds(Number.NaN)).toThrow(RangeError);
  });
});

describe('text hygiene', () => {
  it.each(['a\u0000b', 'a\u202eb', 'a\u200bb', 'a\u0007b', '\ufeffa'])('flags %j', (value) => {
    expect(hasForbiddenCharacters(value)).toBe(true);
  });

  it('folds case and compatibility forms into one key', () => {
    expect(foldKey('ＡＮＮＡ')).toBe(foldKey('anna'));
    expect(foldKey('Ǆ')).toBe(foldKey('ǆ'));
  });
});
