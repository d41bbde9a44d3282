import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Channel } from '#libs/core';
import type { MessageContent } from './message.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a payload is bound to: moving it to another row, or changing the row's recipient, breaks decryption. */
export interface PayloadBinding {
  id: string;
  channel: Channel;
  recipient: string;
}

function aad(binding: PayloadBinding): Buffer {
  return Buffer.from(`gatehouse:outbox:v1\n${binding.id}\n${binding.channel}\n${binding.recipient}`, 'utf8');
}

/**
 * AES-256-GCM for message content waiting in the outbox: `iv (12) | tag (16) | ciphertext`.
 * The row's id, channel and recipient are authenticated as associated data.
 */
export class PayloadCipher {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new RangeError('The outbox key must be 32 bytes (AES-256)');
  }

  encrypt(content: MessageContent, binding: PayloadBinding): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(binding));
    const body = Buffer.concat([cipher.update(JSON.stringify(content), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  /** Throws when the payload was not written by this key for this row. */
  decrypt(payload: Buffer, binding: PayloadBinding): MessageContent {
    if (payload.length < IV_BYTES + TAG_BYTES) throw new Error('outbox payload too short');
    const decipher = createDecipheriv('aes-256-gcm', this.key, payload.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(binding));
    decipher.setAuthTag(payload.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const json = Buffer.concat([decipher.update(payload.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    const parsed = JSON.parse(json) as MessageContent;
    if (typeof parsed.text !== 'string') throw new Error('outbox payload malformed');
    return parsed;
  }
}
