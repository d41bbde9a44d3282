import { Module } from '@nestjs/common';
import { IdentityModule } from '#libs/identity';
import { LegacyImporter } from './legacy-importer.js';

/** The legacy account import (LegacyImporter). Needs DataSource and AuditService from the global platform module. */
@Module({ imports: [IdentityModule], providers: [LegacyImporter], exports: [LegacyImporter] })
export class LegacyImportModule {}
