import { Body, Controller, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError } from '#libs/core';
import { AccountActionsService } from '#libs/support';
import { AdminWeb } from './admin-web.js';
import { CurrentStaff, Roles, type StaffPrincipal, type StaffRequest } from './auth/index.js';
import { SupportErrorFilter, SupportTargets, actorOf, statusOf, text } from './support-common.js';
import { actionBody, personLink, reasonForm } from './support-views.js';
import { consolePage } from './views/layout.js';

type Form = Record<string, unknown>;

interface Action {
  title: string;
  button: string;
  path: string;
  run(actions: AccountActionsService, ...args: Parameters<AccountActionsService['disable']>): Promise<string>;
}

const ACTIONS: Record<'unlock' | 'end_sessions' | 'disable' | 'enable', Action> = {
  unlock: {
    title: 'Unlock recovery',
    button: 'Unlock recovery',
    path: 'recovery/unlock',
    run: async (a, actor, id, reason, meta) => {
      const r = await a.unlockRecovery(actor, id, reason, meta);
      return r.wasLocked ? 'Recovery was unlocked; the person was told by email.' : 'The count of wrong security codes was reset.';
    },
  },
  end_sessions: {
    title: 'End sessions',
    button: 'End all sessions',
    path: 'sessions/end',
    run: async (a, actor, id, reason, meta) => {
      const r = await a.endSessions(actor, id, reason, meta);
      const apps = r.grantsRevoked === 0 ? '' : `, ${r.grantsRevoked} app sign-in${r.grantsRevoked === 1 ? ' was' : 's were'} revoked`;
      return `${r.ended} ${r.ended === 1 ? 'session was' : 'sessions were'} ended${apps}; the person was told by email.`;
    },
  },
  disable: {
    title: 'Disable user',
    button: 'Disable user',
    path: 'disable',
    run: async (a, actor, id, reason, meta) => {
      await a.disable(actor, id, reason, meta);
      return 'The user was disabled: sessions ended, remembered devices revoked, and the person was told by email.';
    },
  },
  enable: {
    title: 'Enable user',
    button: 'Enable user',
    path: 'enable',
    run: async (a, actor, id, reason, meta) => {
      await a.enable(actor, id, reason, meta);
      return 'The user was enabled; the person was told by email.';
    },
  },
};

/**
 * The person page's action forms: unlock recovery, revoke remembered devices, end sessions,
 * disable and enable. Each needs a `Reason`; on success the person page shows what happened,
 * on a refusal the form comes back with the error.
 */
@Controller('people/user/:id')
@Roles('support')
@UseFilters(SupportErrorFilter)
export class SupportActionsController {
  constructor(
    private readonly web: AdminWeb,
    private readonly targets: SupportTargets,
    private readonly actions: AccountActionsService,
  ) {}

  @Post('recovery/unlock')
  unlock(
    @Req() req: StaffRequest,
    @Res() res: Response,
    @CurrentStaff() staff: StaffPrincipal,
    @Param('id') id: string,
    @Body() body: Form,
  ) {
    return this.act(ACTIONS.unlock, req, res, staff, id, body);
  }

  @Post('sessions/end')
  endSessions(
    @Req() req: StaffRequest,
    @Res() res: Response,
    @CurrentStaff() staff: StaffPrincipal,
    @Param('id') id: string,
    @Body() body: Form,
  ) {
    return this.act(ACTIONS.end_sessions, req, res, staff, id, body);
  }

  @Post('disable')
  disable(
    @Req() req: StaffRequest,
    @Res() res: Response,
    @CurrentStaff() staff: StaffPrincipal,
    @Param('id') id: string,
    @Body() body: Form,
  ) {
    return this.act(ACTIONS.disable, req, res, staff, id, body);
  }

  @Post('enable')
  enable(
    @Req() req: StaffRequest,
    @Res() res: Response,
    @CurrentStaff() staff: StaffPrincipal,
    @Param('id') id: string,
    @Body() body: Form,
  ) {
    return this.act(ACTIONS.enable, req, res, staff, id, body);
  }

  @Post('devices/revoke')
  async revoke(
    @Req() req: StaffRequest,
    @Res() res: Response,
    @CurrentStaff() staff: StaffPrincipal,
    @Param('id') id: string,
    @Body() body: Form,
  ): Promise<void> {
    const device = text(body.device, 64) || 'all';
    const revoke: Action = {
      title: 'Revoke remembered devices',
      button: 'Revoke',
      path: 'devices/revoke',
      run: async (a, actor, userId, reason, meta) => {
        const r = await a.revokeDevices(actor, userId, device, reason, meta);
        return `${r.revoked} remembered ${r.revoked === 1 ? 'device was' : 'devices were'} revoked; the person was told by email.`;
      },
    };
    await this.act(revoke, req, res, staff, id, body, { device });
  }

  private async act(
    action: Action,
    req: StaffRequest,
    res: Response,
    staff: StaffPrincipal,
    id: string,
    body: Form,
    hidden: Record<string, string> = {},
  ): Promise<void> {
    const target = await this.targets.load(staff, 'user', id);
    try {
      const notice = await action.run(this.actions, actorOf(staff), target.id, body.reason, this.web.meta(req));
      res.redirect(303, `${personLink('user', target.id)}?notice=${encodeURIComponent(notice)}`);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code === 'forbidden') throw error;
      const csrf = this.web.csrf(req, res);
      const errors = error.details.fieldErrors as Record<string, string> | undefined;
      res.setHeader('Cache-Control', 'no-store');
      res
        .status(statusOf(error))
        .type('html')
        .send(
          consolePage(
            `${action.title} · ${target.profile.firstName} ${target.profile.lastName}`,
            { staff, csrf },
            actionBody({
              kind: 'user',
              id: target.id,
              error: error.message,
              form: reasonForm({
                action: `${personLink('user', target.id)}/${action.path}`,
                csrf,
                button: action.button,
                suffix: '',
                hidden,
                errors,
              }),
            }),
          ),
        );
    }
  }
}
