import { Module } from '@nestjs/common';
import { IdentityModule } from '#libs/identity';
import { OtpModule } from '#libs/otp';
import { ContactVerificationService } from './contact-verification.service.js';
import { EmergencyContactService } from './emergency-contacts.service.js';

/**
 * Emergency contacts (EmergencyContactService). DataSource, Clock and AuditService come from the
 * global platform module; OtpModule's queue from the app's `OtpModule.forRoot`.
 */
@Module({
  imports: [IdentityModule, OtpModule],
  providers: [ContactVerificationService, EmergencyContactService],
  exports: [EmergencyContactService],
})
export class ContactsModule {}
