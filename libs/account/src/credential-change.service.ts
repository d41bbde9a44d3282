import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, foldKey } from '#libs/core';
import {
  Directory,
  PasswordHasher,
  checkNewPassword,
  checkSecurityCode,
  type UserRecord,
  setUserCredential,
  userCredentialHashes,
  userCredentialStateForUpdate,
} from '#libs/identity';
import { OutboxService, type NoticeKind } from '#libs/notifications';
import { RememberedDeviceService, SessionService, type RequestMeta, type Session } from '#libs/sessions';
import type { StepError } from '#libs/otp';
import { ACCOUNT_RULE, IP_RULE, ThrottleService, refusalError } from '#libs/throttle';
import { STEP_UP_REQUIRED, sessionEnded, str } from './common.js';
import { StepUpService } from './step-up.service.js';

export interface ChangeOutcome {
  /** `changed`: done; `step_up_required`: ask for a fresh OTP first; `rejected`: see `error` and `fieldErrors`. */
  status: 'changed' | 'step_up_required' | 'rejected';
  error?: StepError;
  /** Keyed like the service's inputs (`currentPassword`); the pages and the API rename them to their fields. */
  fieldErrors?: Record<string, string>;
}

export interface PasswordChangeInput {
  currentPassword: unknown;
  newPassword: unknown;
  confirmPassword: unknown;
}

export interface SecurityCodeChangeInput {
  currentPassword: unknown;
  securityCode: unknown;
  confirmSecurityCode: unknown;
}

const INVALID_INPUT: StepError = { code: 'invalid_input', message: 'Please correct the fields marked below.' };
const WRONG_PASSWORD = 'The current password is not correct.';

type Credential = 'password' | 'security_code';

/**
 * Signed-in credential changes: password and security code. Each needs the current
 * password and a fresh step-up OTP in this session. A change stores the new argon2id hash
 * and bumps the user's credential version, in one transaction that also ends every other
 * session (this one adopts the new version and lives on), queues a link-free notice email
 * and writes the audit event; afterwards every remembered device is revoked, so each needs
 * a one-time code again (the version mismatch alone would already refuse them).
 *
 * A wrong current password counts against the same per-account and per-IP sign-in
 * throttle as a wrong password at sign-in: one guessing budget per account, wherever the
 * guesses are typed.
 */
@Injectable()
export class CredentialChangeService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly directory: Directory,
    private readonly hasher: PasswordHasher,
    private readonly throttle: ThrottleService,
    private readonly sessions: SessionService,
    private readonly devices: RememberedDeviceService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
    private readonly stepUp: StepUpService,
  ) {}

  async changePassword(session: Session, input: PasswordChangeInput, meta: RequestMeta): Promise<ChangeOutcome> {
    const checked = await this.checkCurrent(session, input.currentPassword, 'password', meta);
    if ('outcome' in checked) return checked.outcome;
    const { user, currentPassword } = checked;
    const password = str(input.newPassword, 1024);
    const errors: Record<string, string> = {};
    const pw = checkNewPassword(password, { ...(await this.directory.passwordContext(user)), previous: currentPassword });
    if (!pw.ok) errors.newPassword = pw.reason;
    else if (password !== str(input.confirmPassword, 1024)) errors.confirmPassword = 'The passwords do not match.';
    if (Object.keys(errors).length > 0) return { status: 'rejected', error: INVALID_INPUT, fieldErrors: errors };
    const hash = await this.hasher.hash(password);
    await this.apply(session, user, 'password', hash, meta);
    return { status: 'changed' };
  }

  async changeSecurityCode(session: Session, input: SecurityCodeChangeInput, meta: RequestMeta): Promise<ChangeOutcome> {
    const checked = await this.checkCurrent(session, input.currentPassword, 'security_code', meta);
    if ('outcome' in checked) return checked.outcome;
    const { user, hashes } = checked;
    const policy = await this.directory.policy(user.organizationId);
    const errors: Record<string, string> = {};
    const code = checkSecurityCode(str(input.securityCode, 64), { min: policy.securityCodeMinLength, max: policy.securityCodeMaxLength });
    if (!code.ok) errors.securityCode = code.reason;
    else if (code.value !== str(input.confirmSecurityCode, 64).normalize('NFKC').trim())
      errors.confirmSecurityCode = 'The security codes do not match.';
    else if ((await this.hasher.verify(hashes.securityCodeHash, code.value)).ok)
      errors.securityCode = 'The new security code must differ from your current one.';
    if (Object.keys(errors).length > 0 || !code.ok) return { status: 'rejected', error: INVALID_INPUT, fieldErrors: errors };
    const hash = await this.hasher.hash(code.value);
    await this.apply(session, user, 'security_code', hash, meta);
    return { status: 'changed' };
  }

  /** Fresh session, not throttled, and the right current password; otherwise the outcome to show. */
  private async checkCurrent(
    session: Session,
    currentInput: unknown,
    what: Credential,
    meta: RequestMeta,
  ): Promise<
    { outcome: ChangeOutcome } | { user: UserRecord; currentPassword: string; hashes: { passwordHash: string; securityCodeHash: string } }
  > {
    if (!this.stepUp.isFresh(session)) return { outcome: { status: 'step_up_required', error: STEP_UP_REQUIRED } };
    const user = await this.directory.user(session.userId);
    if (!user || user.status !== 'active') throw sessionEnded();
    const accountKey = `signin:acct:${foldKey(user.enterpriseId)}`;
    const ipKey = `signin:ip:${meta.ip ?? 'unknown'}`;
    const reserved = await this.throttle.reserve([
      [accountKey, ACCOUNT_RULE],
      [ipKey, IP_RULE],
    ]);
    if (!reserved.ok) return { outcome: { status: 'rejected', error: refusalError(reserved) } };
    const currentPassword = str(currentInput, 1024);
    const hashes = await this.hashesOf(user.id);
    const verified = currentPassword === '' ? { ok: false } : await this.hasher.verify(hashes.passwordHash, currentPassword);
    if (!verified.ok) {
      // Counted already, by the reservation.
      await this.audit.record({
        type: 'credentials.change_refused',
        actor: { type: 'user', id: user.id },
        subject: { type: 'user', id: user.id },
        organizationId: user.organizationId,
        ...auditMeta(meta),
        details: {
          credential: what,
          reason: currentPassword === '' ? 'missing_current_password' : 'wrong_current_password',
          session_id: session.id,
        },
      });
      return {
        outcome: {
          status: 'rejected',
          error: { code: 'wrong_password', message: WRONG_PASSWORD },
          fieldErrors: { currentPassword: WRONG_PASSWORD },
        },
      };
    }
    await this.throttle.succeeded(reserved, [accountKey]);
    return { user, currentPassword, hashes };
  }

  private async hashesOf(userId: string): Promise<{ passwordHash: string; securityCodeHash: string }> {
    const rows = await userCredentialHashes(this.dataSource, [userId]);
    if (!rows[0]) throw sessionEnded();
    return { passwordHash: rows[0].password_hash, securityCodeHash: rows[0].security_code_hash };
  }

  /**
   * Stores the new hash and bumps the credential version; this session adopts the new
   * version, every other one ends. Refused (nothing changes) when this session ended or
   * another change moved the version on since it was resolved.
   */
  private async apply(session: Session, user: UserRecord, what: Credential, hash: string, meta: RequestMeta): Promise<void> {
    const now = this.clock.now();
    await this.dataSource.transaction(async (manager: EntityManager) => {
      const locked = await userCredentialStateForUpdate(manager, [user.id]);
      if (!locked[0] || locked[0].status !== 'active' || locked[0].credential_version !== session.credentialVersion) throw sessionEnded();
      const column = what === 'password' ? 'password_hash' : 'security_code_hash';
      const [updated] = await setUserCredential(manager, column, [user.id, hash, now]);
      const version = updated[0]!.credential_version;
      if (!(await this.sessions.adoptCredentialVersion(session.id, version, manager))) throw sessionEnded();
      const ended = await this.sessions.endAllForUser(user.id, `${what}_changed`, session.id, manager);
      await this.audit.record(
        {
          type: `credentials.${what}_changed`,
          actor: { type: 'user', id: user.id },
          subject: { type: 'user', id: user.id },
          organizationId: user.organizationId,
          ...auditMeta(meta),
          details: { session_id: session.id, other_sessions_ended: ended, credential_version: version },
        },
        manager,
      );
      const kind: NoticeKind = what === 'password' ? 'password_changed' : 'security_code_changed';
      await this.outbox.enqueueNotice(manager, user, kind, { at: now });
    });
    // The version mismatch already refuses every remembered device; revoking them also takes them off the account page.
    await this.devices.revoke(user.id, 'all', { type: 'user', id: user.id }, `${what.replace('_', ' ')} changed`, meta);
  }
}
