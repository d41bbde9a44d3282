import { Module, type DynamicModule, type ModuleMetadata, type Provider } from '@nestjs/common';
import { appChoices } from '#libs/config';
import { CodeStepService } from './code-step.service.js';
import { OTP_LIMITS, OtpService } from './otp.service.js';
import { OtpMessageQueue, type OtpLimits } from './types.js';

export interface OtpModuleOptions {
  /** Provides OtpMessageQueue, e.g. `{ provide: OtpMessageQueue, useClass: OutboxOtpQueue }`. */
  queue: Provider<OtpMessageQueue>;
  /** Modules the queue provider needs (e.g. the one exporting OutboxService), unless they are global. */
  imports?: ModuleMetadata['imports'];
  /** Overrides of DEFAULT_OTP_LIMITS. */
  limits?: Partial<OtpLimits>;
}

/**
 * Provides OtpService and CodeStepService. DataSource, Clock, SECRETS and AuditService come from the
 * (global) platform module.
 *
 * The message queue and the limits are the app's choices: the app imports
 * `OtpModule.forRoot({ queue, imports, limits })` once; libraries import OtpModule plain.
 */
@Module({ providers: [OtpService, CodeStepService], exports: [OtpService, CodeStepService] })
export class OtpModule {
  static forRoot(options: OtpModuleOptions): DynamicModule {
    return appChoices(OtpModule, [options.queue, { provide: OTP_LIMITS, useValue: options.limits ?? {} }], options.imports);
  }
}
