import { allowedBy, type Factor } from '../factor.js';
import { LOA1 } from '../levels.js';

/**
 * A remembered device: the browser presents its `__Host-` cookie (libs/sessions
 * RememberedDeviceService checks it against the device, the user and the policy). It stands in
 * for a code at loa:1, never when a fresh second factor is asked.
 */
export interface RememberedDeviceRecord {
  method: 'remembered_device';
  deviceId: string;
  at: string;
}

export const rememberedDeviceFactor: Factor<RememberedDeviceRecord> = {
  id: 'remembered_device',
  role: 'second',
  challenge: 'cookie',
  optional: true,
  availableFor: (_person, policy) => allowedBy(policy, rememberedDeviceFactor) && policy.rememberDeviceEnabled,
  // No `amr` value: RFC 8176 has none for a remembered browser, and the session reports `pwd` only.
  proves: () => ({ amr: [], levels: [LOA1], fresh: false }),
  // The device check runs in SQL on `remember_device_enabled`; the two settings must agree (a CHECK holds them too).
  policyProblem: (policy) =>
    policy.rememberDeviceEnabled && !allowedBy(policy, rememberedDeviceFactor)
      ? 'remembering devices must be off when the remembered_device factor is not allowed'
      : null,
};

/** The record of a device the browser presented and the device check accepted. */
export const rememberedDeviceRecord = (deviceId: string, now: Date): RememberedDeviceRecord => ({
  method: 'remembered_device',
  deviceId,
  at: now.toISOString(),
});
