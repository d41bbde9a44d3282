import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { LegacyHashFormat } from './types.js';
import { enterpriseIdKeysTaken, insertLegacyAccounts, legacyAccountsByKey, updateLegacyAccounts } from './users.queries.js';

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
    const existing = await legacyAccountsByKey(manager, [keys]);
    const byKey = new Map(existing.map((e) => [e.legacy_user_id_key, e]));
    const takenEnterpriseIds = new Set((await enterpriseIdKeysTaken(manager, [keys])).map((r) => r.key));

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
      const inserted = await insertLegacyAccounts(manager, [organizationId, ...columns(inserts)]);
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
      await updateLegacyAccounts(manager, [organizationId, ...columns(updates)]);
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
