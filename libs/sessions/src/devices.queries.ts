import type { DataSource, EntityManager } from 'typeorm';

/**
 * The statements on remembered devices (the sessions + devices aggregate). Only the account
 * page's read lives here yet; DeviceService's own statements move here in a later pass.
 */

/** The id of the user's remembered device whose token hashes to `tokenHash`, or null. */
export async function rememberedDeviceIdOf(db: DataSource | EntityManager, tokenHash: Buffer, userId: string): Promise<string | null> {
  const rows = await db.query<Array<{ id: string }>>(`SELECT id FROM remembered_devices WHERE token_hash = $1 AND user_id = $2`, [
    tokenHash,
    userId,
  ]);
  return rows[0]?.id ?? null;
}
