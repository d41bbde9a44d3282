import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { FlowsModule } from '#libs/flows';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule } from '#libs/notifications';
import { OtpMessageQueue, OtpModule } from '#libs/otp';
import { PeopleModule } from '#libs/people';
import { PlatformModule, type AppOptions } from '#libs/platform';
import { OutboxOtpQueue } from '#libs/signin';
import { StaffModule, type StaffSessionPolicy } from '#libs/staff';
import { SupportModule } from '#libs/support';
import { ThrottleModule } from '#libs/throttle';
import { AdminWeb } from './admin-web.js';
import { AuditApiController, AuditPagesController } from './audit/audit.controller.js';
import { StaffAuthGuard } from './auth/index.js';
import { ConsoleErrorFilter } from './console-error.filter.js';
import { PeopleApiController, PeoplePagesController } from './people/people.controller.js';
import { PersonSections } from './people/sections.js';
import { SessionApiController, SessionController } from './session.controller.js';
import { StaffApiController, StaffPagesController } from './staff/staff.controller.js';
import { SUPPORT_CONTROLLERS, SUPPORT_PROVIDERS } from './support-console.js';

export interface AdminOptions extends AppOptions {
  /** Staff session timeouts; the 15 minutes idle and 8 hours absolute when unset. */
  staffSessionPolicy?: StaffSessionPolicy;
}

/**
 * The support console. Served only on ADMIN_PORT, never on the public port. Every route
 * goes through StaffAuthGuard (auth/staff-auth.guard.ts explains how a controller uses it)
 * and every error through ConsoleErrorFilter.
 */
@Module({})
export class AdminModule {
  static forRoot(options: AdminOptions): DynamicModule {
    return {
      module: AdminModule,
      imports: [
        PlatformModule.forRoot('admin', options),
        // The app's choices, once: the libraries below import these modules plain.
        NotificationsModule.forRoot({ worker: true }),
        OtpModule.forRoot({ imports: [NotificationsModule], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } }),
        StaffModule.forRoot({ sessionPolicy: options.staffSessionPolicy }),
        SupportModule,
        PeopleModule,
        FlowsModule,
        IdentityModule,
        ThrottleModule,
      ],
      controllers: [
        SessionController,
        SessionApiController,
        PeoplePagesController,
        PeopleApiController,
        StaffPagesController,
        StaffApiController,
        AuditPagesController,
        AuditApiController,
        ...SUPPORT_CONTROLLERS,
      ],
      providers: [
        AdminWeb,
        PersonSections,
        ...SUPPORT_PROVIDERS,
        { provide: APP_GUARD, useClass: StaffAuthGuard },
        { provide: APP_FILTER, useClass: ConsoleErrorFilter },
      ],
      exports: [AdminWeb, PersonSections],
    };
  }
}
