import { LOA1, LOA2, type VerificationRecord } from '#libs/sessions';
import { acrFallsShort, decide, needsFreshOtp, parseAuthRequest, reportedAcr, requiredLevel } from './acr.js';

const at = '2026-06-01T09:00:00.000Z';
const NOW = new Date('2026-06-01T09:30:00.000Z');
const password: VerificationRecord = { method: 'password', at };
const otp: VerificationRecord = { method: 'otp', channel: 'sms', at };
const device: VerificationRecord = { method: 'remembered_device', deviceId: 'd1', at };
const withOtp = { authTime: new Date(at), verifications: [password, otp] };
const onDevice = { authTime: new Date(at), verifications: [password, device] };
const request = (params: Record<string, unknown> = {}) => parseAuthRequest(params);

describe('parseAuthRequest / requiredLevel', () => {
  it('reads prompt, max_age, acr_values and an essential acr claim', () => {
    expect(request({ prompt: 'login consent', max_age: '600', acr_values: `${LOA2} ${LOA1}` })).toEqual({
      forceLogin: true,
      maxAge: 600,
      acrValues: [LOA2, LOA1],
      essentialAcr: undefined,
    });
    expect(request({ claims: JSON.stringify({ id_token: { acr: { essential: true, value: LOA2 } } }) }).essentialAcr).toEqual([LOA2]);
    // A voluntary acr claim is no requirement; broken JSON is ignored.
    expect(request({ claims: JSON.stringify({ id_token: { acr: { values: [LOA2] } } }) }).essentialAcr).toBeUndefined();
    expect(request({ claims: '{' }).essentialAcr).toBeUndefined();
  });

  it('takes the first known acr_values entry, and the lowest acceptable essential value', () => {
    expect(requiredLevel(request({ acr_values: `urn:other ${LOA2} ${LOA1}` }))).toBe(LOA2);
    expect(requiredLevel(request({ acr_values: `${LOA1} ${LOA2}` }))).toBe(LOA1);
    expect(requiredLevel(request({ acr_values: 'urn:other' }))).toBeNull();
    const essential = (values: string[]) => request({ claims: JSON.stringify({ id_token: { acr: { essential: true, values } } }) });
    expect(requiredLevel(essential([LOA2, LOA1]))).toBe(LOA1);
    expect(requiredLevel(essential([LOA2]))).toBe(LOA2);
    expect(requiredLevel(essential(['urn:other']))).toBe('unsupported');
  });

  it('asks a fresh OTP for loa:2, max_age and prompt=login (CONTRACT), not for a plain request', () => {
    expect(needsFreshOtp(request())).toBe(false);
    expect(needsFreshOtp(request({ acr_values: LOA1 }))).toBe(false);
    expect(needsFreshOtp(request({ acr_values: LOA2 }))).toBe(true);
    expect(needsFreshOtp(request({ max_age: 3600 }))).toBe(true);
    expect(needsFreshOtp(request({ prompt: 'login' }))).toBe(true);
  });

  it('reports loa:1 for a loa:2 session when an essential acr accepts only loa:1', () => {
    const only1 = request({ claims: JSON.stringify({ id_token: { acr: { essential: true, values: [LOA1] } } }) });
    expect(reportedAcr(LOA2, only1)).toBe(LOA1);
    expect(reportedAcr(LOA2, request())).toBe(LOA2);
    expect(reportedAcr(LOA1, request({ acr_values: LOA2 }))).toBe(LOA1);
  });
});

describe('decide', () => {
  it('without a session: sign in (with an OTP whenever the request needs a fresh one)', () => {
    expect(decide(request(), null, NOW, null)).toEqual({ action: 'login', requireOtp: false, reason: 'no_session' });
    expect(decide(request({ acr_values: LOA2 }), null, NOW, null)).toEqual({ action: 'login', requireOtp: true, reason: 'no_session' });
  });

  it('a live session answers a plain request with what it holds', () => {
    expect(decide(request(), withOtp, NOW, null)).toEqual({
      action: 'finish',
      acr: LOA2,
      amr: ['pwd', 'otp', 'sms'],
      authTime: new Date(at),
    });
    expect(decide(request(), onDevice, NOW, null)).toEqual({ action: 'finish', acr: LOA1, amr: ['pwd'], authTime: new Date(at) });
  });

  it('prompt=login, an exceeded max_age, or loa:2 on a remembered device start a new sign-in with an OTP', () => {
    expect(decide(request({ prompt: 'login' }), withOtp, NOW, null)).toEqual({ action: 'login', requireOtp: true, reason: 'prompt_login' });
    expect(decide(request({ max_age: 1799 }), withOtp, NOW, null)).toEqual({ action: 'login', requireOtp: true, reason: 'max_age' });
    expect(decide(request({ max_age: 1800 }), withOtp, NOW, null)).toMatchObject({ action: 'finish' });
    expect(decide(request({ acr_values: LOA2 }), onDevice, NOW, null)).toEqual({ action: 'login', requireOtp: true, reason: 'acr' });
    expect(decide(request({ acr_values: LOA2 }), withOtp, NOW, null)).toMatchObject({ action: 'finish', acr: LOA2 });
  });

  it('a session authenticated for this interaction satisfies prompt=login and max_age', () => {
    expect(decide(request({ prompt: 'login', max_age: 0 }), withOtp, NOW, { otpRequired: true })).toMatchObject({
      action: 'finish',
      acr: LOA2,
    });
  });

  it('a fresh sign-in that still falls short cannot meet the requirement', () => {
    expect(decide(request({ acr_values: LOA2 }), onDevice, NOW, { otpRequired: true })).toMatchObject({
      action: 'fail',
      error: 'unmet_authentication_requirements',
    });
    expect(decide(request({ prompt: 'login' }), onDevice, NOW, { otpRequired: true })).toMatchObject({ action: 'fail' });
    expect(decide(request(), onDevice, NOW, { otpRequired: false })).toMatchObject({ action: 'finish', acr: LOA1 });
  });

  it('an essential acr nobody supports is unmet at once', () => {
    const odd = request({ claims: JSON.stringify({ id_token: { acr: { essential: true, value: 'urn:other' } } }) });
    expect(decide(odd, withOtp, NOW, null)).toMatchObject({ action: 'fail', error: 'unmet_authentication_requirements' });
  });

  it('a session without a second factor is no session', () => {
    expect(decide(request(), { authTime: new Date(at), verifications: [password] }, NOW, null)).toMatchObject({
      action: 'login',
      reason: 'no_session',
    });
  });
});

describe("acrFallsShort (the provider's acr check)", () => {
  it('a first-choice loa:2 is a requirement a loa:1 login does not meet; loa:1 asks nothing of the mirrored login', () => {
    expect(acrFallsShort(request({ acr_values: LOA2 }), LOA1)).toBe(true);
    expect(acrFallsShort(request({ acr_values: LOA2 }), undefined)).toBe(true);
    expect(acrFallsShort(request({ acr_values: LOA2 }), LOA2)).toBe(false);
    expect(acrFallsShort(request({ acr_values: LOA1 }), undefined)).toBe(false);
    expect(acrFallsShort(request(), LOA1)).toBe(false);
    expect(acrFallsShort(request({ acr_values: 'urn:other' }), undefined)).toBe(false);
  });
});
