import { acrOf, amrOf, completes, describeRecord, hasFreshSecondFactor, lastFreshSecondFactorAt, recoveryProven } from './assurance.js';
import { LOA1, LOA2 } from './levels.js';
import { FACTORS, FACTOR_IDS, allowedFactorsProblem, availableFactors, factorOf, type VerificationRecord } from './registry.js';

const at = '2026-06-01T09:00:00.000Z';
const later = '2026-06-01T09:05:00.000Z';
const password: VerificationRecord = { method: 'password', at };
const legacy: VerificationRecord = { method: 'legacy_password', at };
const email: VerificationRecord = { method: 'otp', channel: 'email', at };
const sms: VerificationRecord = { method: 'otp', channel: 'sms', at: later };
const voice: VerificationRecord = { method: 'otp', channel: 'voice', at };
const device: VerificationRecord = { method: 'remembered_device', deviceId: 'd1', at };
const securityCode: VerificationRecord = { method: 'security_code', at };

const person = { email: 'a@example.com', mobile: '+393331234567', mobileVerifiedAt: new Date(at) };
const policy = { allowedFactors: FACTOR_IDS, otpChannels: ['email', 'sms', 'voice'] as const, rememberDeviceEnabled: true };

describe('acr and amr, from what each factor proves', () => {
  it('loa:2 for a password and a code; loa:1 for a password and a remembered device; nothing without a first factor', () => {
    expect(acrOf([password, email])).toBe(LOA2);
    expect(acrOf([legacy, email])).toBe(LOA2);
    expect(acrOf([password, device])).toBe(LOA1);
    expect(acrOf([password, device, sms])).toBe(LOA2);
    expect(acrOf([password])).toBeNull();
    expect(acrOf([email])).toBeNull();
    expect(acrOf([securityCode, sms])).toBeNull();
    expect(acrOf([])).toBeNull();
  });

  it('amr: pwd, otp, and sms or tel for the channel; nothing for a device or a security code', () => {
    expect(amrOf([password, email])).toEqual(['pwd', 'otp']);
    expect(amrOf([password, sms])).toEqual(['pwd', 'otp', 'sms']);
    expect(amrOf([legacy, voice])).toEqual(['pwd', 'otp', 'tel']);
    expect(amrOf([password, device])).toEqual(['pwd']);
    expect(amrOf([securityCode])).toEqual([]);
    expect(amrOf([password, email, sms])).toEqual(['pwd', 'otp', 'sms']);
  });

  it('a fresh second factor is one the person verified: a code, not a remembered device', () => {
    expect(hasFreshSecondFactor([password, email])).toBe(true);
    expect(hasFreshSecondFactor([password, device])).toBe(false);
    expect(hasFreshSecondFactor([password, securityCode])).toBe(false);
    expect(lastFreshSecondFactorAt([password, email, sms, device])).toEqual(new Date(later));
    expect(lastFreshSecondFactorAt([password, device])).toBeNull();
  });

  it('a record of a factor this version does not know proves nothing', () => {
    const unknown = { method: 'carrier_pigeon', at } as unknown as VerificationRecord;
    expect(factorOf(unknown)).toBeUndefined();
    expect(acrOf([password, unknown])).toBeNull();
    expect(amrOf([unknown, password])).toEqual(['pwd']);
  });
});

describe('the registry', () => {
  it('lists every factor once, by the method of the record it yields', () => {
    expect(FACTOR_IDS).toEqual(['password', 'legacy_password', 'otp', 'remembered_device', 'security_code']);
    expect(new Set(FACTOR_IDS).size).toBe(FACTORS.length);
  });

  it('answers which factors may serve a person under a policy', () => {
    const ids = (p: typeof policy | (Omit<typeof policy, 'allowedFactors'> & { allowedFactors: string[] })) =>
      availableFactors(person, p, 'second').map((f) => f.id);
    expect(ids(policy)).toEqual(['otp', 'remembered_device']);
    expect(ids({ ...policy, rememberDeviceEnabled: false })).toEqual(['otp']);
    expect(ids({ ...policy, allowedFactors: FACTOR_IDS.filter((id) => id !== 'remembered_device') })).toEqual(['otp']);
    expect(availableFactors(person, policy, 'first').map((f) => f.id)).toEqual(['password', 'legacy_password']);
  });

  it('checks an organization’s allowed factors', () => {
    expect(allowedFactorsProblem(policy)).toBeNull();
    expect(allowedFactorsProblem({ ...policy, allowedFactors: [...FACTOR_IDS, 'sms'] })).toMatch(/unknown factors: sms/u);
    expect(allowedFactorsProblem({ ...policy, allowedFactors: FACTOR_IDS.filter((id) => id !== 'otp') })).toMatch(
      /cannot be left out yet: otp/u,
    );
    const noDevice = FACTOR_IDS.filter((id) => id !== 'remembered_device');
    expect(allowedFactorsProblem({ ...policy, allowedFactors: noDevice })).toMatch(/remembering devices must be off/u);
    expect(allowedFactorsProblem({ ...policy, allowedFactors: noDevice, rememberDeviceEnabled: false })).toBeNull();
  });
});

describe('completes (a second factor verified without a challenge)', () => {
  it('a remembered device ends a sign-in unless a fresh second factor is asked; a first factor never does', () => {
    expect(completes(device, false)).toBe(true);
    expect(completes(device, true)).toBe(false);
    expect(completes(email, true)).toBe(true);
    expect(completes(password, false)).toBe(false);
  });
});

describe('recovery and the audit trail, from the records', () => {
  it('recovery is proven by a recovery factor and a fresh second factor together, never one alone', () => {
    expect(recoveryProven([securityCode, sms])).toBe(true);
    expect(recoveryProven([securityCode])).toBe(false);
    expect(recoveryProven([sms])).toBe(false);
    expect(recoveryProven([securityCode, device])).toBe(false);
    expect(recoveryProven([password, email])).toBe(false);
  });

  it('names a record by its factor, and a code by its channel too', () => {
    expect([securityCode, sms, voice, password, device].map(describeRecord)).toEqual([
      'security_code',
      'otp:sms',
      'otp:voice',
      'password',
      'remembered_device',
    ]);
  });
});
