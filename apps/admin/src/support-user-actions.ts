import type { Request } from 'express';
import type { AccountActionsService, StaffActor } from '#libs/support';
import { text } from './support-common.js';

type Body = Record<string, unknown> | undefined;

/**
 * One account action on an enrolled user, at `people/user/:id/<path>` both as a person page
 * form and in the JSON API (`api/v1/people/user/:id/<path>`): one table for both.
 */
export interface UserAction {
  path: string;
  /** The form's page title and button when it is shown again after a refusal. */
  title: string;
  button: string;
  /** Runs it with the body's `reason` (and what else it takes): what the person page tells, and what the API answers. */
  run(
    actions: AccountActionsService,
    actor: StaffActor,
    userId: string,
    body: Body,
    meta: Parameters<AccountActionsService['enable']>[3],
  ): Promise<{ notice: string; json: Record<string, unknown> }>;
  /** The form's fields besides the reason (kept when the form is shown again). */
  hidden?(body: Body): Record<string, string>;
}

/** `device`: one remembered device's id, or all of them. */
const deviceOf = (body: Body): string => text(body?.device, 64) || 'all';

export const USER_ACTIONS: readonly UserAction[] = [
  {
    path: 'recovery/unlock',
    title: 'Unlock recovery',
    button: 'Unlock recovery',
    run: async (a, actor, id, body, meta) => {
      const r = await a.unlockRecovery(actor, id, body?.reason, meta);
      return {
        notice: r.wasLocked ? 'Recovery was unlocked; the person was told by email.' : 'The count of wrong security codes was reset.',
        json: { was_locked: r.wasLocked, failed_attempts: r.failedAttempts },
      };
    },
  },
  {
    path: 'devices/revoke',
    title: 'Revoke remembered devices',
    button: 'Revoke',
    run: async (a, actor, id, body, meta) => {
      const r = await a.revokeDevices(actor, id, deviceOf(body), body?.reason, meta);
      return {
        notice: `${r.revoked} remembered ${r.revoked === 1 ? 'device was' : 'devices were'} revoked; the person was told by email.`,
        json: r,
      };
    },
    hidden: (body) => ({ device: deviceOf(body) }),
  },
  {
    path: 'sessions/end',
    title: 'End sessions',
    button: 'End all sessions',
    run: async (a, actor, id, body, meta) => {
      const r = await a.endSessions(actor, id, body?.reason, meta);
      const apps = r.grantsRevoked === 0 ? '' : `, ${r.grantsRevoked} app sign-in${r.grantsRevoked === 1 ? ' was' : 's were'} revoked`;
      return {
        notice: `${r.ended} ${r.ended === 1 ? 'session was' : 'sessions were'} ended${apps}; the person was told by email.`,
        json: { ended: r.ended, oidc_grants_revoked: r.grantsRevoked },
      };
    },
  },
  {
    path: 'disable',
    title: 'Disable user',
    button: 'Disable user',
    run: async (a, actor, id, body, meta) => {
      const r = await a.disable(actor, id, body?.reason, meta);
      return {
        notice: 'The user was disabled: sessions ended, remembered devices revoked, and the person was told by email.',
        json: { status: 'disabled', sessions_ended: r.sessionsEnded, devices_revoked: r.devicesRevoked },
      };
    },
  },
  {
    path: 'enable',
    title: 'Enable user',
    button: 'Enable user',
    run: async (a, actor, id, body, meta) => {
      const r = await a.enable(actor, id, body?.reason, meta);
      return { notice: 'The user was enabled; the person was told by email.', json: r };
    },
  },
];

/** The action a request's route is for (one handler serves every path of USER_ACTIONS). */
export function userActionOf(req: Request): UserAction {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  const action = USER_ACTIONS.find((a) => typeof route === 'string' && route.endsWith(`/${a.path}`));
  if (!action) throw new Error(`no user action at ${String(route)}`);
  return action;
}
