import type { Queryable } from '#libs/database';
import type { Organization, OtpChannel } from './types.js';

/**
 * Statements on organizations and their policies (the users aggregate, with users.queries.ts),
 * as the organization service, the directory and the organization policy need them.
 */

/** The columns of organization_policies an operator may change (`OrganizationPolicyService.update`). */
export type OrganizationPolicyColumn =
  | 'otp_channels'
  | 'remember_device_enabled'
  | 'remember_device_days'
  | 'security_code_min_length'
  | 'security_code_max_length'
  | 'recovery_max_failures'
  | 'require_verified_emergency_email'
  | 'require_verified_emergency_phone'
  | 'contact_reminder_limit'
  | 'default_locale'
  | 'allowed_factors';

/** An organization's policy row (`SELECT *`). */
export interface OrganizationPolicyRow {
  organization_id: string;
  otp_channels: OtpChannel[];
  remember_device_enabled: boolean;
  remember_device_days: number;
  security_code_min_length: number;
  security_code_max_length: number;
  recovery_max_failures: number;
  require_verified_emergency_email: boolean;
  require_verified_emergency_phone: boolean;
  contact_reminder_limit: number;
  default_locale: string;
  allowed_factors: string[];
  version: number;
}

/** A policy row as the organization policy reads it: its channels also as a jsonb list. */
export type OrganizationPolicyListRow = OrganizationPolicyRow & { otp_channels_list: string[] };

export function insertOrganization(db: Queryable, values: unknown[]) {
  return db.query<Array<{ id: string; created_at: Date }>>(
    `INSERT INTO organizations (slug, name) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING RETURNING id, created_at`,
    values,
  );
}

/** A new organization's policy: every setting at its default. */
export async function insertDefaultPolicy(db: Queryable, organizationId: string): Promise<void> {
  await db.query(`INSERT INTO organization_policies (organization_id) VALUES ($1)`, [organizationId]);
}

export async function organizationBySlug(db: Queryable, slug: string): Promise<Organization | undefined> {
  const rows = await db.query<Array<{ id: string; slug: string; name: string; created_at: Date }>>(
    `SELECT id, slug, name, created_at FROM organizations WHERE slug = $1`,
    [slug],
  );
  const row = rows[0];
  return row && { id: row.id, slug: row.slug, name: row.name, createdAt: row.created_at };
}

export async function organizationById(db: Queryable, id: string): Promise<{ id: string; slug: string; name: string } | undefined> {
  const rows = await db.query<Array<{ id: string; slug: string; name: string }>>(`SELECT id, slug, name FROM organizations WHERE id = $1`, [
    id,
  ]);
  return rows[0];
}

export async function policyOfOrganization(db: Queryable, organizationId: string): Promise<OrganizationPolicyRow | undefined> {
  const rows = await db.query<OrganizationPolicyRow[]>(`SELECT * FROM organization_policies WHERE organization_id = $1`, [organizationId]);
  return rows[0];
}

/** The policy of the organization with this slug. */
export async function policyOfSlug(db: Queryable, slug: string): Promise<OrganizationPolicyListRow | undefined> {
  const rows = await db.query<OrganizationPolicyListRow[]>(
    `SELECT p.*, to_jsonb(p.otp_channels) AS otp_channels_list FROM organization_policies p JOIN organizations o ON o.id = p.organization_id WHERE o.slug = $1`,
    [slug],
  );
  return rows[0];
}

/** The policy of the organization with this slug, the row locked, with the organization's id. */
export async function policyOfSlugForUpdate(
  db: Queryable,
  slug: string,
): Promise<(OrganizationPolicyListRow & { org_id: string }) | undefined> {
  const rows = await db.query<Array<OrganizationPolicyListRow & { org_id: string }>>(
    `SELECT p.*, to_jsonb(p.otp_channels) AS otp_channels_list, o.id AS org_id FROM organization_policies p JOIN organizations o ON o.id = p.organization_id
          WHERE o.slug = $1 FOR UPDATE OF p`,
    [slug],
  );
  return rows[0];
}

/** Sets these columns of an organization's policy and moves its version on; answers the row after. */
export async function updatePolicy(
  db: Queryable,
  organizationId: string,
  changes: ReadonlyArray<readonly [column: OrganizationPolicyColumn, value: unknown]>,
): Promise<OrganizationPolicyListRow> {
  const sets = changes.map(([column], i) => `${column} = $${i + 2}`);
  // TypeORM answers an UPDATE … RETURNING with [rows, affected].
  const [updated] = await db.query<[OrganizationPolicyListRow[], number]>(
    `UPDATE organization_policies SET ${sets.join(', ')}, version = version + 1, updated_at = now()
          WHERE organization_id = $1 RETURNING *, to_jsonb(otp_channels) AS otp_channels_list`,
    [organizationId, ...changes.map(([, value]) => value)],
  );
  return updated[0]!;
}
