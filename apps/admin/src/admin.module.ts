import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { FlowStore } from '#libs/flows';
import { PeopleDirectory } from '#libs/people';
import { NotificationsModule, OutboxWorkerLifecycle } from '#libs/notifications';
import { OtpMessageQueue, OtpModule } from '#libs/otp';
import { PlatformModule, type AppOptions } from '#libs/platform';
import { OutboxOtpQueue } from '#libs/signin';
import { STAFF_SESSION_POLICY, StaffService, StaffSessionService, StaffSignInService, type StaffSessionPolicy } from '#libs/staff';
import { ThrottleService } from '#libs/throttle';
import { AdminWeb } from './admin-web.js';
import { AuditApiController, AuditPagesController } from './audit/audit.controller.js';
import { StaffAuthGuard } from './auth/index.js';
import { ConsoleErrorFilter } from './console-error.filter.js';
import { PeopleApiController, PeoplePagesController } from './people/people.controller.js';
import { PersonSections } from './people/sections.js';
import { SessionApiController, SessionController } from './session.controller.js';
import { StaffApiController, StaffPagesController } from './staff/staff.controller.js';
import { SupportModule } from '#libs/support';
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
        NotificationsModule,
        OtpModule.register({ imports: [NotificationsModule], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } }),
        SupportModule.register(NotificationsModule),
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
        FlowStore,
        ThrottleService,
        ...(options.staffSessionPolicy ? [{ provide: STAFF_SESSION_POLICY, useValue: options.staffSessionPolicy }] : []),
        StaffSessionService,
        StaffService,
        StaffSignInService,
        PeopleDirectory,
        PersonSections,
        ...SUPPORT_PROVIDERS,
        OutboxWorkerLifecycle,
        { provide: APP_GUARD, useClass: StaffAuthGuard },
        { provide: APP_FILTER, useClass: ConsoleErrorFilter },
      ],
      exports: [AdminWeb, StaffSessionService, StaffService, PeopleDirectory, PersonSections],
    };
  }
}
