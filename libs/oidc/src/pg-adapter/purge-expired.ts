import type { DataSource } from 'typeorm';
import { deleteExpiredModels } from '#libs/oidc-store';

/**
 * Deletes expired rows in batches, each a short lock. Expired artifacts are refused on read
 * already; this only reclaims the space. Safe on several nodes at once. Returns how many rows went.
 */
export async function purgeExpired(dataSource: DataSource, now: Date, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const count = await deleteExpiredModels(dataSource, now, batch);
    total += count;
    if (count < batch) return total;
  }
}
