import { Module } from '@nestjs/common';
import { NotificationsModule } from '#libs/notifications';
import { RecoveryModule } from '#libs/recovery';
import { SessionsModule } from '#libs/sessions';
import { AccountActionsService } from './account-actions.service.js';
import { ContactApprovalService } from './contact-approval.service.js';
import { CorrectionRequestService } from './correction-request.service.js';
import { SupportNotices } from './notices.js';
import { ProfileCorrectionService } from './profile-correction.service.js';

export const SUPPORT_SERVICES = [ProfileCorrectionService, ContactApprovalService, CorrectionRequestService, AccountActionsService];

/**
 * The support console's actions. DataSource, Clock and AuditService come from the global platform
 * module; RecoveryModule (the security code) needs OtpModule's queue from the app's `OtpModule.forRoot`.
 */
@Module({
  imports: [SessionsModule, RecoveryModule, NotificationsModule],
  providers: [SupportNotices, ...SUPPORT_SERVICES],
  exports: SUPPORT_SERVICES,
})
export class SupportModule {}
