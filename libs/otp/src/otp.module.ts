import { Module, type DynamicModule, type ModuleMetadata, type Provider } from '@nestjs/common';
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
 * (global) platform module; the message queue is the app's choice.
 */
@Module({})
export class OtpModule {
  static register(options: OtpModuleOptions): DynamicModule {
    return {
      module: OtpModule,
      imports: options.imports ?? [],
      providers: [options.queue, { provide: OTP_LIMITS, useValue: options.limits ?? {} }, OtpService, CodeStepService],
      exports: [OtpService, CodeStepService, OtpMessageQueue],
    };
  }
}
