import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Localized messages: each person's message language (`users.locale`, and
 * `legacy_accounts.locale` before enrollment, both from the browser or the API at
 * enrollment) and the organization's default for people without one.
 */
export class Locale1763880000000 implements MigrationInterface {
  name = 'Locale1763880000000';

  async up(q: QueryRunner): Promise<void> {
    // A short BCP 47 tag: a language, optionally a script and/or a region (`en`, `it`, `pt-BR`, `zh-Hant-TW`).
    const tag = `'^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$'`;
    await q.query(`ALTER TABLE users ADD COLUMN locale text CHECK (locale ~ ${tag})`);
    await q.query(`ALTER TABLE legacy_accounts ADD COLUMN locale text CHECK (locale ~ ${tag})`);
    await q.query(`ALTER TABLE organization_policies ADD COLUMN default_locale text NOT NULL DEFAULT 'en' CHECK (default_locale ~ ${tag})`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE organization_policies DROP COLUMN default_locale`);
    await q.query(`ALTER TABLE legacy_accounts DROP COLUMN locale`);
    await q.query(`ALTER TABLE users DROP COLUMN locale`);
  }
}
