import { FACTOR_IDS, type VerificationRecord } from './registry.js';
import { secondFactorRefusal, secondFactorsOffered } from './second-factor.js';

const at = '2026-06-01T09:00:00.000Z';
const person = { email: 'a@example.com', mobile: null, mobileVerifiedAt: null };
const policy = { allowedFactors: FACTOR_IDS, otpChannels: ['email', 'sms', 'voice'] as const, rememberDeviceEnabled: true };

describe('the second-factor step', () => {
  it('offers the second factors that challenge the person, never one the browser presents', () => {
    expect(secondFactorsOffered(person, policy)).toEqual(['otp']);
    // Remembered devices off: the offer is the same (a device never answers the step).
    expect(
      secondFactorsOffered(person, {
        ...policy,
        rememberDeviceEnabled: false,
        allowedFactors: ['password', 'legacy_password', 'otp', 'security_code'],
      }),
    ).toEqual(['otp']);
  });

  it('offers nothing a policy leaves out', () => {
    expect(
      secondFactorsOffered(person, { ...policy, allowedFactors: ['password', 'legacy_password', 'remembered_device', 'security_code'] }),
    ).toEqual([]);
    // Email always reaches the person: the code factor stays on offer without a mobile channel.
    expect(secondFactorsOffered(person, { ...policy, otpChannels: [] })).toEqual(['otp']);
  });

  it('accepts only a fresh record of an offered second factor', () => {
    const code: VerificationRecord = { method: 'otp', channel: 'sms', at };
    expect(secondFactorRefusal(code, ['otp'])).toBeNull();
    expect(secondFactorRefusal(code, [])).toMatch(/not offered/u);
    expect(secondFactorRefusal({ method: 'password', at }, ['otp', 'password'])).toMatch(/not a second factor/u);
    expect(secondFactorRefusal({ method: 'security_code', at }, ['otp'])).toMatch(/not a second factor/u);
    expect(secondFactorRefusal({ method: 'remembered_device', deviceId: 'd1', at }, ['otp', 'remembered_device'])).toMatch(
      /does not answer a challenge/u,
    );
    expect(secondFactorRefusal({ method: 'webauthn', at } as unknown as VerificationRecord, ['otp'])).toMatch(/unknown factor/u);
  });
});
