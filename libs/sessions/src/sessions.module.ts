import { Module, type DynamicModule } from '@nestjs/common';
import { appChoices } from '#libs/config';
import { RememberedDeviceService } from './device.service.js';
import { SESSION_POLICY, SessionService, type SessionPolicy } from './session.service.js';

const SESSIONS = [SessionService, RememberedDeviceService];

/**
 * Signed-in sessions and remembered devices (SessionService, RememberedDeviceService). Needs
 * TypeORM's DataSource, Clock and AuditService from the global platform module.
 *
 * The session policy is the app's choice: the app imports `SessionsModule.forRoot({ policy })`
 * once (DEFAULT_SESSION_POLICY without a policy); libraries import SessionsModule plain.
 */
@Module({ providers: SESSIONS, exports: SESSIONS })
export class SessionsModule {
  static forRoot(options: { policy?: SessionPolicy } = {}): DynamicModule {
    return appChoices(SessionsModule, options.policy ? [{ provide: SESSION_POLICY, useValue: options.policy }] : []);
  }
}
