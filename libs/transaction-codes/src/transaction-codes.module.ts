import { Module } from '@nestjs/common';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule } from '#libs/notifications';
import { OidcStoreModule } from '#libs/oidc-store';
import { ThrottleModule } from '#libs/throttle';
import { TransactionCodeService } from './transaction-codes.service.js';

/** Transaction codes (TransactionCodeService). Needs DataSource, Clock, SECRETS and AuditService from the global platform module. */
@Module({
  imports: [IdentityModule, ThrottleModule, NotificationsModule, OidcStoreModule],
  providers: [TransactionCodeService],
  exports: [TransactionCodeService],
})
export class TransactionCodesModule {}
