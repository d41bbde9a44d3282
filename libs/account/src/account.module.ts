import { Module, type DynamicModule } from '@nestjs/common';
import { appChoices } from '#libs/config';
import type { Duration } from '#libs/core';
import { FlowsModule } from '#libs/flows';
import { IdentityModule } from '#libs/identity';
import { NotificationsModule } from '#libs/notifications';
import { OtpModule } from '#libs/otp';
import { SessionsModule } from '#libs/sessions';
import { ThrottleModule } from '#libs/throttle';
import { AccountSessionsService } from './account-sessions.service.js';
import { ContactChangeService } from './contact-change.service.js';
import { CredentialChangeService } from './credential-change.service.js';
import { MessageLanguageService } from './language.service.js';
import { STEP_UP_WINDOW, StepUpService } from './step-up.service.js';

const ACCOUNT = [StepUpService, CredentialChangeService, ContactChangeService, MessageLanguageService, AccountSessionsService];

/**
 * Self-service on one's own account: step-up, password and contact changes, message language,
 * signed-in sessions. DataSource, Clock, AuditService and APP_CONFIG come from the global platform
 * module; OtpModule's queue from the app's `OtpModule.forRoot`.
 *
 * The step-up window is the app's choice: `AccountModule.forRoot({ stepUpWindow })` once
 * (DEFAULT_STEP_UP_WINDOW without it); libraries import AccountModule plain.
 */
@Module({
  imports: [FlowsModule, IdentityModule, ThrottleModule, SessionsModule, OtpModule, NotificationsModule],
  providers: ACCOUNT,
  exports: ACCOUNT,
})
export class AccountModule {
  static forRoot(options: { stepUpWindow?: Duration } = {}): DynamicModule {
    return appChoices(AccountModule, options.stepUpWindow ? [{ provide: STEP_UP_WINDOW, useValue: options.stepUpWindow }] : []);
  }
}
