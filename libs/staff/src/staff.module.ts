import { Module, type DynamicModule } from '@nestjs/common';
import { appChoices } from '#libs/config';
import { FlowsModule } from '#libs/flows';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule } from '#libs/notifications';
import { OtpModule } from '#libs/otp';
import { ThrottleModule } from '#libs/throttle';
import { STAFF_SESSION_POLICY, StaffSessionService, type StaffSessionPolicy } from './staff-session.service.js';
import { StaffSignInService } from './staff-signin.service.js';
import { StaffService } from './staff.service.js';

const STAFF = [StaffSessionService, StaffService, StaffSignInService];

/**
 * Staff members, their sign-in and their sessions. DataSource, Clock, SECRETS and AuditService
 * come from the global platform module; OtpModule's queue from the app's `OtpModule.forRoot`.
 *
 * The staff session timeouts are the app's choice: `StaffModule.forRoot({ sessionPolicy })` once
 * (DEFAULT_STAFF_SESSION_POLICY without it).
 */
@Module({ imports: [FlowsModule, IdentityModule, ThrottleModule, OtpModule, NotificationsModule], providers: STAFF, exports: STAFF })
export class StaffModule {
  static forRoot(options: { sessionPolicy?: StaffSessionPolicy } = {}): DynamicModule {
    return appChoices(StaffModule, options.sessionPolicy ? [{ provide: STAFF_SESSION_POLICY, useValue: options.sessionPolicy }] : []);
  }
}
