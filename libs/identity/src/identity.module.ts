import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Directory } from './directory.js';
import { LegacyAccountStore } from './legacy-account.store.js';
import { OrganizationService } from './organization.service.js';
import { PasswordHasher } from './password-hasher.js';

const IDENTITY = [Directory, OrganizationService, LegacyAccountStore, PasswordHasher];

/**
 * Users, organizations and legacy accounts (Directory, OrganizationService, LegacyAccountStore),
 * and the PasswordHasher with the configured argon2 parameters. Needs APP_CONFIG, TypeORM's
 * DataSource and AuditService from the global platform module.
 */
@Module({
  providers: [
    Directory,
    OrganizationService,
    LegacyAccountStore,
    { provide: PasswordHasher, inject: [APP_CONFIG], useFactory: (config: AppConfig) => new PasswordHasher(config.argon2) },
  ],
  exports: IDENTITY,
})
export class IdentityModule {}
