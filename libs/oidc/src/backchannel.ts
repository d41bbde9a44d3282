import { setTimeout as sleep } from 'node:timers/promises';
import type Provider from 'oidc-provider';
import type { DataSource } from 'typeorm';
import { auditMeta, type AuditService } from '#libs/audit';
import { Duration, type Clock } from '#libs/core';
import { claimSessionsOf, claimSessionsOfUser, sessionsDueLogout, takeQueuedSessions, type ClaimedSession } from './backchannel.queries.js';
import { revokeGrant } from './pg-adapter.js';

/**
 * Session ends that do not log relying apps out: the same person signing in again in the
 * same browser (`replaced`: the provider session moves to the new Gatehouse session), and
 * timeouts (the relying apps keep their own sessions; their tokens end with their grant).
 * Every other end does: sign-out, RP-initiated logout, a credential change or password
 * reset ending other sessions, support ending sessions, a disabled user, another person
 * signing in on the browser (`replaced_by_other_user`).
 */
export const QUIET_END_REASONS: readonly string[] = ['replaced', 'idle_timeout', 'absolute_timeout'];

/** oidc-provider's Client as far as logout goes (its typings leave `backchannelLogout` out). */
interface LogoutClient {
  clientId: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/** What happened to one relying app of a logged-out session. */
export interface LogoutOutcome {
  clientId: string;
  /** Whether a logout token was accepted (2xx); null when the app registered no back-channel URI. */
  delivered: boolean | null;
}

/**
 * OpenID Connect Back-Channel Logout: when a Gatehouse session ends, every provider session
 * mirroring it is ended, the grants issued in it are revoked (their tokens die with them),
 * and each relying app with a `backchannel_logout_uri` gets a logout token (signed by
 * oidc-provider: `iss`, `aud`, `iat`, `exp`, `jti`, `sub`, `sid`, the logout event; no
 * nonce), retried after `retryDelays` when the app does not answer 2xx.
 *
 * Which sessions: triggers in PostgreSQL queue every session end and every change of a
 * user's status or credential version (`oidc_logout_queue`, see the OidcLogout migration),
 * so whatever ends a session (the account page, a credential change, recovery, the support
 * console in its own process) is covered; each IdP node drains the queue every few seconds
 * (`drainQueue`). `forSession` and `forUser` act at once for code that wants that.
 *
 * A provider session is claimed by deleting its row, so of several nodes exactly one sends
 * its logout tokens. Delivery is best effort after that (as in oidc-provider's own
 * end-session endpoint): a node that dies mid-way loses the rest; each outcome is audited.
 */
export class BackchannelLogout {
  constructor(
    private readonly provider: () => Provider,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly onError: (message: string) => void,
    private readonly clock: Clock,
    private readonly retryDelays: Duration[] = [Duration.ofSeconds(1), Duration.ofSeconds(4)],
  ) {}

  /** Logs out the provider sessions that mirror this Gatehouse session (whether or not it has ended). */
  async forSession(gatehouseSessionId: string, reason = 'session_ended'): Promise<LogoutOutcome[]> {
    const claimed = await claimSessionsOf(this.dataSource, gatehouseSessionId, this.clock.now());
    return await this.logOut(claimed, reason);
  }

  /** Logs out every provider session of a user, except those mirroring `exceptSessionId` (the session making a change). */
  async forUser(userId: string, options: { exceptSessionId?: string; reason?: string } = {}): Promise<LogoutOutcome[]> {
    const claimed = await claimSessionsOfUser(this.dataSource, userId, options.exceptSessionId ?? null, this.clock.now());
    return await this.logOut(claimed, options.reason ?? 'user_logged_out');
  }

  /**
   * Takes up to `batch` queued sessions (skipping those another node holds), claims the
   * provider sessions of those whose end warrants a logout, and logs them out. Returns the
   * outcomes; loops until the queue is empty.
   */
  async drainQueue(batch = 100): Promise<LogoutOutcome[]> {
    const outcomes: LogoutOutcome[] = [];
    for (;;) {
      const { taken, claimed } = await this.dataSource.transaction(async (manager) => {
        const queued = await takeQueuedSessions(manager, batch);
        if (queued.length === 0) return { taken: 0, claimed: [] as Array<{ session: ClaimedSession; reason: string }> };
        const due = await sessionsDueLogout(manager, [...new Set(queued.map((q) => q.session_id))], QUIET_END_REASONS);
        const sessions: Array<{ session: ClaimedSession; reason: string }> = [];
        for (const d of due) {
          for (const session of await claimSessionsOf(manager, d.id, this.clock.now())) sessions.push({ session, reason: d.reason });
        }
        return { taken: queued.length, claimed: sessions };
      });
      if (taken === 0) return outcomes;
      const byReason = new Map<string, ClaimedSession[]>();
      for (const c of claimed) byReason.set(c.reason, [...(byReason.get(c.reason) ?? []), c.session]);
      for (const [reason, sessions] of byReason) outcomes.push(...(await this.logOut(sessions, reason)));
      if (taken < batch) return outcomes;
    }
  }

  /** Audits one logout-token delivery (also those oidc-provider's end-session endpoint sends). */
  static async record(
    audit: AuditService,
    accountId: string,
    details: {
      client_id: string;
      sid: string | undefined;
      session_id: string | null;
      reason: string;
      delivered: boolean;
      attempts: number;
    },
    meta: { ip?: string | null; userAgent?: string | null; requestId?: string | null } = {},
  ): Promise<void> {
    await audit.record({
      type: details.delivered ? 'oidc.backchannel_logout.delivered' : 'oidc.backchannel_logout.failed',
      actor: { type: 'system', id: 'oidc' },
      subject: { type: 'user', id: accountId },
      ...auditMeta(meta),
      details,
    });
  }

  private async logOut(sessions: ClaimedSession[], reason: string): Promise<LogoutOutcome[]> {
    const provider = this.provider();
    const outcomes = await Promise.all(
      sessions.flatMap((session) =>
        Object.entries(session.payload.authorizations ?? {}).map(async ([clientId, authorization]): Promise<LogoutOutcome> => {
          // Gatehouse grants never outlive the session they were issued in (offline_access included).
          if (authorization.grantId) await revokeGrant(this.dataSource, authorization.grantId);
          const accountId = session.payload.accountId;
          const client = await provider.Client.find(clientId).catch(() => undefined);
          if (!accountId || !client?.backchannelLogoutUri) return { clientId, delivered: null };
          const { delivered, attempts } = await this.deliver(client as unknown as LogoutClient, accountId, authorization.sid);
          await BackchannelLogout.record(this.audit, accountId, {
            client_id: clientId,
            sid: authorization.sid,
            session_id: session.gatehouse_session_id,
            reason,
            delivered,
            attempts,
          });
          return { clientId, delivered };
        }),
      ),
    );
    return outcomes;
  }

  private async deliver(client: LogoutClient, sub: string, sid: string | undefined): Promise<{ delivered: boolean; attempts: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.backchannelLogout(sub, sid ?? '');
        return { delivered: true, attempts: attempt };
      } catch (error) {
        const delay = this.retryDelays[attempt - 1];
        if (!delay) {
          this.onError(
            `back-channel logout to client ${client.clientId} failed after ${attempt} attempt(s): ${error instanceof Error ? error.message : String(error)}`,
          );
          return { delivered: false, attempts: attempt };
        }
        await sleep(delay.milliseconds);
      }
    }
  }
}
