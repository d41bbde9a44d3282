import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { LegacyHashFormat } from './entities.js';

export interface LegacyAccountInput {
  legacyUserId: string;
  legacyUserIdKey: string;
  firstName: string;
  lastName: string;
  email: string;
  emailKey: string;
  mobile: string | null;
  passwordHash: string;
  hashFormat: LegacyHashFormat;
}

export type UpsertOutcome =
  | { kind: 'imported' }
  | { kind: 'updated'; fields: string[] }
  | { kind: 'unchanged' }
  | { kind: 'enrolled' }
  | { kind: 'rejected'; reason: string };

interface ExistingRow {
  legacy_user_id_key: string;
  organization_id: string;
  status: 'pending' | 'enrolled';
  legacy_user_id: string;
  first_name: string;
  last_name: string;
  email: string;
  mobile: string | null;
  password_hash: string | null;
}

/**
 * Writes imported legacy accounts in batches. Pending accounts take the file's data;
 * enrolled accounts are never touched; an ID owned by another organization, or taken as
 * someone's Enterprise ID, is refused.
 */
@Injectable()
export class LegacyAccountStore {
  async upsertBatch(manager: EntityManager, organizationId: string, rows: LegacyAccountInput[]): Promise<UpsertOutcome[]> {
    if (rows.length === 0) return [];
    const keys = rows.map((r) => r.legacyUserIdKey);
    const existing = await manager.query<ExistingRow[]>(
      `SELECT legacy_user_id_key, organization_id, status, legacy_user_id, first_name, last_name, email, mobile, password_hash
         FROM legacy_accounts WHERE legacy_user_id_key = ANY($1::text[]) FOR UPDATE`,
      [keys],
    );
    const byKey = new Map(existing.map((e) => [e.legacy_user_id_key, e]));
    const takenEnterpriseIds = new Set(
      (
        await manager.query<Array<{ key: string }>>(
          `SELECT u.enterprise_id_key AS key FROM users u
            WHERE u.enterprise_id_key = ANY($1::text[])
              AND NOT EXISTS (SELECT 1 FROM legacy_accounts l WHERE l.user_id = u.id AND l.legacy_user_id_key = u.enterprise_id_key)`,
          [keys],
        )
      ).map((r) => r.key),
    );

    const outcomes: UpsertOutcome[] = [];
    const inserts: LegacyAccountInput[] = [];
    const updates: LegacyAccountInput[] = [];
    for (const row of rows) {
      const current = byKey.get(row.legacyUserIdKey);
      if (!current) {
        if (takenEnterpriseIds.has(row.legacyUserIdKey)) {
          outcomes.push({ kind: 'rejected', reason: 'legacy_user_id is already in use as an Enterprise ID' });
        } else {
          inserts.push(row);
          outcomes.push({ kind: 'imported' });
        }
        continue;
      }
      if (current.organization_id !== organizationId) {
        outcomes.push({ kind: 'rejected', reason: 'legacy_user_id already belongs to another organization' });
      } else if (current.status === 'enrolled') {
        outcomes.push({ kind: 'enrolled' });
      } else {
        const fields: string[] = [];
        if (current.legacy_user_id !== row.legacyUserId) fields.push('legacy_user_id');
        if (current.first_name !== row.firstName) fields.push('first_name');
        if (current.last_name !== row.lastName) fields.push('last_name');
        if (current.email !== row.email) fields.push('email');
        if (current.mobile !== row.mobile) fields.push('mobile');
        if (current.password_hash !== row.passwordHash) fields.push('password_hash');
        if (fields.length === 0) {
          outcomes.push({ kind: 'unchanged' });
        } else {
          updates.push(row);
          outcomes.push({ kind: 'updated', fields });
        }
      }
    }

    if (inserts.length > 0) {
      const inserted = await manager.query<Array<{ key: string }>>(
        `INSERT INTO legacy_accounts
           (organization_id, legacy_user_id, legacy_user_id_key, first_name, last_name, email, email_key, mobile, password_hash, hash_format)
         SELECT $1::uuid, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
         ON CONFLICT (legacy_user_id_key) DO NOTHING
         RETURNING legacy_user_id_key AS key`,
        [organizationId, ...columns(inserts)],
      );
      if (inserted.length !== inserts.length) {
        // Another import created some of these IDs since we looked: report them, never overwrite.
        const done = new Set(inserted.map((r) => r.key));
        rows.forEach((row, i) => {
          if (outcomes[i]?.kind === 'imported' && !done.has(row.legacyUserIdKey)) {
            outcomes[i] = { kind: 'rejected', reason: 'legacy_user_id was created concurrently by another import; run this file again' };
          }
        });
      }
    }
    if (updates.length > 0) {
      await manager.query(
        `UPDATE legacy_accounts l SET
            legacy_user_id = u.legacy_user_id, first_name = u.first_name, last_name = u.last_name, email = u.email,
            email_key = u.email_key, mobile = u.mobile, password_hash = u.password_hash, hash_format = u.hash_format, updated_at = now()
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
                AS u(legacy_user_id, legacy_user_id_key, first_name, last_name, email, email_key, mobile, password_hash, hash_format)
          WHERE l.legacy_user_id_key = u.legacy_user_id_key AND l.organization_id = $1::uuid AND l.status = 'pending'`,
        [organizationId, ...columns(updates)],
      );
    }
    return outcomes;
  }
}

function columns(rows: LegacyAccountInput[]): unknown[][] {
  return [
    rows.map((r) => r.legacyUserId),
    rows.map((r) => r.legacyUserIdKey),
    rows.map((r) => r.firstName),
    rows.map((r) => r.lastName),
    rows.map((r) => r.email),
    rows.map((r) => r.emailKey),
    rows.map((r) => r.mobile),
    rows.map((r) => r.passwordHash),
    rows.map((r) => r.hashFormat),
  ];
}
