import { stepUpStatus } from './step-up.js';

const LOA1 = 'urn:gatehouse:loa:1';
const LOA2 = 'urn:gatehouse:loa:2';
const now = new Date('2026-06-01T09:00:00Z');
const at = (secondsAgo: number) => Math.floor(now.getTime() / 1000) - secondsAgo;

describe('stepUpStatus: only a validated loa:2 authentication of the last 600 s unlocks payment details', () => {
  it('accepts loa:2 with an auth_time up to 600 s old, and says until when', () => {
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: at(0) }, now)).toEqual({
      fresh: true,
      authTime: now,
      until: new Date(now.getTime() + 600_000),
    });
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: at(600) }, now).fresh).toBe(true);
  });

  it('refuses an auth_time older than 600 s', () => {
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: at(601) }, now)).toEqual({ fresh: false, reason: 'too_old' });
  });

  it('refuses an absent, lower, unknown or oddly typed acr', () => {
    expect(stepUpStatus(null, now)).toEqual({ fresh: false, reason: 'no_acr' });
    expect(stepUpStatus({ sub: 'u', auth_time: at(0) }, now)).toEqual({ fresh: false, reason: 'no_acr' });
    expect(stepUpStatus({ sub: 'u', acr: null, auth_time: at(0) }, now)).toEqual({ fresh: false, reason: 'no_acr' });
    expect(stepUpStatus({ sub: 'u', acr: LOA1, auth_time: at(0) }, now)).toEqual({ fresh: false, reason: 'weak_acr' });
    expect(stepUpStatus({ sub: 'u', acr: [LOA2], auth_time: at(0) }, now)).toEqual({ fresh: false, reason: 'weak_acr' });
    expect(stepUpStatus({ sub: 'u', acr: `${LOA2} `, auth_time: at(0) }, now)).toEqual({ fresh: false, reason: 'weak_acr' });
    expect(stepUpStatus({ sub: 'u', acr: 'urn:gatehouse:loa:3', auth_time: at(0) }, now)).toEqual({ fresh: false, reason: 'weak_acr' });
  });

  it('refuses a missing, non-numeric or far-future auth_time', () => {
    expect(stepUpStatus({ sub: 'u', acr: LOA2 }, now)).toEqual({ fresh: false, reason: 'no_auth_time' });
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: String(at(0)) }, now)).toEqual({ fresh: false, reason: 'no_auth_time' });
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: at(0) + 0.5 }, now)).toEqual({ fresh: false, reason: 'no_auth_time' });
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: at(-61) }, now)).toEqual({ fresh: false, reason: 'in_future' });
    // A little clock difference between the portal and Gatehouse is tolerated.
    expect(stepUpStatus({ sub: 'u', acr: LOA2, auth_time: at(-60) }, now).fresh).toBe(true);
  });
});
