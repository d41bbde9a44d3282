import { Module } from '@nestjs/common';
import { FlowsModule } from '#libs/flows';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule } from '#libs/notifications';
import { OtpModule } from '#libs/otp';
import { SessionsModule } from '#libs/sessions';
import { ThrottleModule } from '#libs/throttle';
import { PasswordResetService } from './password-reset.service.js';
import { RecoveryFlows } from './recovery-flows.js';
import { RecoveryService } from './recovery.service.js';
import { SecurityCodeGuard } from './security-code.guard.js';

/**
 * Self-service recovery and the security code (RecoveryService, SecurityCodeGuard). DataSource,
 * Clock and AuditService come from the global platform module; OtpModule's queue from the app's
 * `OtpModule.forRoot`.
 */
@Module({
  imports: [FlowsModule, IdentityModule, ThrottleModule, SessionsModule, OtpModule, NotificationsModule],
  providers: [SecurityCodeGuard, RecoveryFlows, PasswordResetService, RecoveryService],
  exports: [SecurityCodeGuard, RecoveryService],
})
export class RecoveryModule {}
