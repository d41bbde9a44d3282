import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, DomainError, type Channel } from '#libs/core';
import { WriteBatch } from '#libs/database';
import { hasFreshSecondFactor } from '#libs/factors';
import { FlowStore, type Flow, type FlowHandle } from '#libs/flows';
import { Directory, addPreferredChannelPart, markEmailProvenByCode, type PolicyRecord, type UserRecord } from '#libs/identity';
import { OutboxService, messageLocaleFor, noticeMessage } from '#libs/notifications';
import { OtpService, otpFailureMessage, type Delivery, type OtpClaim, type StepError } from '#libs/otp';
import { RememberedDeviceService, SessionService, type DevicePolicy, type RequestMeta } from '#libs/sessions';
import { ThrottleService, type Reservation } from '#libs/throttle';
import { GENERIC_FAILURE } from './common.js';
import type { SignInState } from './machines.js';

export interface SignInOutcome {
  handle: FlowHandle;
  state: SignInState;
  error?: StepError;
  /** For the OTP step: what happened to the message with the code. */
  delivery?: Delivery;
  /** Set once the user is signed in. */
  signedIn?: SignedIn;
  /** Set when legacy credentials start enrollment instead. */
  enrollment?: FlowHandle;
}

export interface SignedIn {
  userId: string;
  organizationId: string;
  sessionToken: string;
  deviceToken?: string;
  returnTo: string;
}

/**
 * The answer of the one-request sign-in (`signIn`): like a step's, but a flow exists only
 * when the sign-in continues (a code to enter, a channel to choose); a sign-in that ends at
 * once, or fails, leaves none behind.
 */
export type DirectSignInOutcome = Omit<SignInOutcome, 'handle'> & { handle?: FlowHandle };

export interface ClientContext extends RequestMeta {
  deviceToken?: string | undefined;
}

/** How the finishing statement ended. */
export type Finished = { signedIn: SignedIn } | { codeLost: StepError } | { deviceGone: true };

export const devicePolicyOf = (policy: PolicyRecord): DevicePolicy => ({
  enabled: policy.rememberDeviceEnabled,
  days: policy.rememberDeviceDays,
  version: policy.version,
});

/**
 * The end of a sign-in: the one finishing statement that starts the session (with what the
 * last step verified), remembering this device, and an email address proven by a login code.
 */
@Injectable()
export class SignInFinish {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly flows: FlowStore,
    private readonly directory: Directory,
    private readonly throttle: ThrottleService,
    private readonly devices: RememberedDeviceService,
    private readonly sessions: SessionService,
    private readonly otp: OtpService,
    private readonly outbox: OutboxService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Signs the user in, in one statement (WriteBatch): marks the remembered device used or uses
   * the code (whichever this step verified), ends the flow if it is still at the version
   * loaded, starts the session (if the user is still active with the same credentials) and
   * appends the audit events, all or nothing and in one commit. Remembering this device joins
   * them in one transaction. `deviceGone` when the device no longer applied (nothing written); `codeLost` when
   * the code was used meanwhile (a concurrent submit), superseded or expired.
   */
  async finish(
    flow: Flow<SignInState> | null,
    state: Extract<SignInState, { step: 'done' }>,
    user: UserRecord,
    ctx: ClientContext,
    extras: {
      otp?: OtpClaim;
      deviceId?: string;
      preferredChannel?: Channel | undefined;
      remember?: boolean;
      /** A throttle reservation this sign-in settles as a success, in the same statement (whatever else it writes). */
      throttle?: { reservation: Reservation; forget: string[] };
    },
  ): Promise<Finished> {
    // The credentials the password was checked against must still be current (not reset since).
    const credentialVersion = state.credentialVersion ?? user.credentialVersion;
    const batch = new WriteBatch();
    const device = extras.deviceId ? this.devices.useIn(batch, extras.deviceId, { id: user.id, credentialVersion }, ctx) : undefined;
    const used = extras.otp ? this.otp.consumeIn(batch, extras.otp) : undefined;
    const ended = flow ? this.flows.endIn(batch, flow, [device, used?.part]) : undefined;
    const session = this.sessions.createIn(batch, { id: user.id, credentialVersion }, state.verifications, ctx, [
      device,
      used?.part,
      ended,
    ]);
    if (extras.preferredChannel) addPreferredChannelPart(batch, user.id, extras.preferredChannel, session.part);
    this.audit.appendTo(batch, [used && { event: used.event, when: used.part }, { event: session.event, when: session.part }]);
    if (extras.throttle) this.throttle.succeededIn(batch, extras.throttle.reservation, extras.throttle.forget);

    // The policy matters only for remembering this device; read it (before the transaction) only then.
    const policy =
      extras.remember && hasFreshSecondFactor(state.verifications) ? await this.directory.policy(user.organizationId) : undefined;
    let deviceToken: string | undefined;
    const result = policy
      ? await this.dataSource.transaction(async (manager) => {
          const ran = await batch.run(manager);
          if (ran.ran(session.part)) deviceToken = await this.rememberDevice(user, policy, ctx, manager);
          return ran;
        })
      : await batch.run(this.dataSource);

    if (used && extras.otp && !result.ran(used.part) && flow) {
      // Used meanwhile by a concurrent submit of the same code, superseded or expired.
      return { codeLost: otpFailureMessage(await this.otp.claimLost(extras.otp)) };
    }
    // Nothing was written: the caller asks for a code instead.
    if (device && !result.ran(device)) return { deviceGone: true };
    if (ended && !result.ran(ended)) throw FlowStore.changed();
    // Disabled, or the password changed, while signing in.
    if (!result.ran(session.part)) throw new DomainError('flow_not_found', GENERIC_FAILURE);
    const signedIn: SignedIn = {
      userId: user.id,
      organizationId: user.organizationId,
      sessionToken: session.token,
      returnTo: state.returnTo,
    };
    if (deviceToken) signedIn.deviceToken = deviceToken;
    return { signedIn };
  }

  /** Remembers this device (in the sign-in's transaction) and queues the "new device" notice; returns the device token. */
  private async rememberDevice(
    user: UserRecord,
    policy: PolicyRecord,
    ctx: ClientContext,
    manager: EntityManager,
  ): Promise<string | undefined> {
    const remembered = await this.devices.remember(user, devicePolicyOf(policy), ctx, manager);
    if (!remembered) return undefined;
    const locale = await messageLocaleFor(manager, { type: 'user', id: user.id });
    const notice = noticeMessage('new_device', { name: remembered.device.name, at: this.clock.now().toISOString(), locale });
    await this.outbox.enqueue(manager, {
      channel: 'email',
      to: user.email,
      purpose: 'notice.new_device',
      locale,
      subject: notice.subject,
      text: notice.text,
    });
    return remembered.token;
  }

  /**
   * An email address that support set (four-eyes, then unverified) stays the sign-in channel, so
   * nobody is locked out; a sign-in code that reached it proves it. Only if the code went to the
   * address on file now (not to one replaced meanwhile).
   */
  async emailProven(user: UserRecord, challengeId: string, ctx: ClientContext): Promise<void> {
    const now = this.clock.now();
    await this.dataSource.transaction(async (m) => {
      if ((await markEmailProvenByCode(m, user.id, challengeId, now)) === 0) return;
      await this.audit.record(
        {
          type: 'contact.email_verified',
          actor: { type: 'user', id: user.id },
          subject: { type: 'user', id: user.id },
          organizationId: user.organizationId,
          ...auditMeta(ctx),
          details: { verified_by: 'login_code' },
        },
        m,
      );
    });
  }
}
