import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { SECRETS, type Secrets } from '#libs/config';
import { Clock } from '#libs/core';
import { ClientRegistry } from './clients.js';
import { SigningKeyStore } from './signing-keys.js';

/** The client registry and the signing keys. Needs TypeORM's DataSource, Clock, SECRETS and AuditService from the global platform module. */
@Module({
  providers: [
    {
      provide: ClientRegistry,
      inject: [DataSource, Clock, AuditService],
      useFactory: (ds: DataSource, clock: Clock, audit: AuditService) => new ClientRegistry(ds, clock, audit),
    },
    {
      provide: SigningKeyStore,
      inject: [DataSource, Clock, SECRETS],
      useFactory: (ds: DataSource, clock: Clock, secrets: Secrets) => new SigningKeyStore(ds, clock, secrets.signingKeys),
    },
  ],
  exports: [ClientRegistry, SigningKeyStore],
})
export class OidcStoreModule {}
