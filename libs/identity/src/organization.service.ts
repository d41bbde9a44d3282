import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, type AuditEventInput } from '#libs/audit';
import { DomainError, cleanText, codePointLength, hasForbiddenCharacters } from '#libs/core';
import type { Organization } from './types.js';
import { insertDefaultPolicy, insertOrganization, organizationBySlug } from './organizations.queries.js';

const SLUG = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/u;

@Injectable()
export class OrganizationService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  /** Creates an organization with the default policy. Fails with `organization_exists` on a taken slug. */
  async create(slug: string, rawName: string, actor: AuditEventInput['actor']): Promise<Organization> {
    if (!SLUG.test(slug)) {
      throw new DomainError(
        'invalid_slug',
        'slug must be 1–63 lower-case letters, digits or hyphens, not starting or ending with a hyphen',
      );
    }
    if (hasForbiddenCharacters(rawName)) throw new DomainError('invalid_name', 'name contains control or invisible characters');
    const name = cleanText(rawName);
    if (name === '' || codePointLength(name) > 200) throw new DomainError('invalid_name', 'name must be 1–200 characters');

    return await this.dataSource.transaction(async (manager) => {
      const inserted = await insertOrganization(manager, [slug, name]);
      const row = inserted[0];
      if (!row) throw new DomainError('organization_exists', `organization "${slug}" already exists`);
      await insertDefaultPolicy(manager, row.id);
      await this.audit.record(
        {
          type: 'organization.created',
          actor,
          subject: { type: 'organization', id: row.id },
          organizationId: row.id,
          details: { slug, name },
        },
        manager,
      );
      return { id: row.id, slug, name, createdAt: row.created_at };
    });
  }

  async findBySlug(slug: string): Promise<Organization | null> {
    return (await organizationBySlug(this.dataSource, slug)) ?? null;
  }
}
