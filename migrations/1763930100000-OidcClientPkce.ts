import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * PKCE is required of every client (RFC 9700 §2.1.1), public or confidential, unless the
 * operator registered a confidential client with `client:create --pkce-optional` for a
 * relying app that cannot send it. Clients registered before this migration are held to
 * the new default too; a public client can never opt out.
 */
export class OidcClientPkce1763930100000 implements MigrationInterface {
  name = 'OidcClientPkce1763930100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE oidc_clients ADD COLUMN pkce_required boolean NOT NULL DEFAULT true`);
    await q.query(`ALTER TABLE oidc_clients ADD CONSTRAINT oidc_clients_public_pkce CHECK (pkce_required OR NOT public)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE oidc_clients DROP COLUMN pkce_required`);
  }
}
