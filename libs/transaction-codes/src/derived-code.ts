import { createHmac, hkdfSync } from 'node:crypto';

/**
 * A transaction code is derived, not stored: code = first 64 bits of
 * HMAC-SHA256(displayKey, "<id>:<nonce>") mod 10^6, zero-padded to 6 digits, where the
 * nonce is 128 random bits kept with the row. Only the server (holding the key) can
 * recompute it, which is how the account page shows it again; the database holds the nonce
 * and the code's HMAC (under the OTP key, bound to the row id), neither of which reveals the
 * code without the secrets. The modulo bias (2^64 mod 10^6 over 2^64) is below 10^-13.
 */
export function displayKey(otpKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', otpKey, Buffer.alloc(0), 'gatehouse:transaction-code:display', 32));
}

export function deriveCode(key: Buffer, id: string, nonce: Buffer): string {
  const digest = createHmac('sha256', key)
    .update(`${id}:${nonce.toString('hex')}`, 'utf8')
    .digest();
  return (digest.readBigUInt64BE(0) % 1_000_000n).toString().padStart(6, '0');
}
