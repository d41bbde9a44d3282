import { Module } from '@nestjs/common';
import { FlowsModule } from '#libs/flows';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule } from '#libs/notifications';
import { OtpModule } from '#libs/otp';
import { SessionsModule } from '#libs/sessions';
import { ThrottleModule } from '#libs/throttle';
import { EnrollmentService } from './enrollment.service.js';
import { SignInFinish } from './signin-finish.js';
import { SignInService } from './signin.service.js';

/**
 * Sign-in and enrollment (SignInService, EnrollmentService). DataSource, Clock and AuditService
 * come from the global platform module; OtpModule's queue from the app's `OtpModule.forRoot`.
 *
 * OutboxOtpQueue (codes through the outbox) is not provided here: it is the queue an app may
 * choose, `OtpModule.forRoot({ imports: [NotificationsModule], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } })`.
 */
@Module({
  imports: [FlowsModule, IdentityModule, ThrottleModule, SessionsModule, OtpModule, NotificationsModule],
  providers: [EnrollmentService, SignInFinish, SignInService],
  exports: [EnrollmentService, SignInService],
})
export class SignInModule {}
