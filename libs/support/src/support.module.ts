import { Module, type DynamicModule, type ModuleMetadata } from '@nestjs/common';
import { Directory } from '#libs/identity';
import { SecurityCodeGuard } from '#libs/recovery';
import { RememberedDeviceService, SessionService } from '#libs/sessions';
import { AccountActionsService } from './account-actions.service.js';
import { ContactApprovalService } from './contact-approval.service.js';
import { CorrectionRequestService } from './correction-request.service.js';
import { SupportNotices } from './notices.js';
import { ProfileCorrectionService } from './profile-correction.service.js';

type Imported = NonNullable<ModuleMetadata['imports']>[number];

export const SUPPORT_SERVICES = [ProfileCorrectionService, ContactApprovalService, CorrectionRequestService, AccountActionsService];

/**
 * The support console's actions. Needs PlatformModule (DataSource, Clock, AuditService,
 * PasswordHasher) from a global module, and the app's notifications module (the outbox),
 * passed in so that the app keeps one outbox and one worker.
 */
@Module({})
export class SupportModule {
  static register(notifications: Imported): DynamicModule {
    return {
      module: SupportModule,
      imports: [notifications],
      providers: [Directory, SessionService, RememberedDeviceService, SecurityCodeGuard, SupportNotices, ...SUPPORT_SERVICES],
      exports: SUPPORT_SERVICES,
    };
  }
}
