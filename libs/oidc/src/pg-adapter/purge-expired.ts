import type { DataSource } from 'typeorm';

/**
 * Deletes expired rows in batches, each a short lock. Expired artifacts are refused on read
 * already; this only reclaims the space. Safe on several nodes at once. Returns how many rows went.
 */
export async function purgeExpired(dataSource: DataSource, now: Date, batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const [, count] = await dataSource.query<[unknown[], number]>(
      `DELETE FROM oidc_models WHERE ctid IN (SELECT ctid FROM oidc_models WHERE expires_at <= $1 LIMIT $2)`,
      [now, batch],
    );
    total += count;
    if (count < batch) return total;
  }
}
