import { Body, Controller, Param, Post, Res, UseFilters } from '@nestjs/common';
import type { Response } from 'express';
import { AccountActionsService } from '#libs/support';
import { AdminWeb } from './admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from './auth/index.js';
import { SupportErrorFilter, SupportTargets, actorOf, refusalOf } from './support-common.js';
import { USER_ACTIONS, userActionOf } from './support-user-actions.js';
import { actionBody, personLink, reasonForm } from './support-views.js';
import { sendConsolePage } from './views/layout.js';

type Form = Record<string, unknown>;

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

  /** Every action's form (the route's last segments say which, USER_ACTIONS). */
  @Post(USER_ACTIONS.map((a) => a.path))
  async act(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('id') id: string, @Body() body: Form): Promise<void> {
    const action = userActionOf(req);
    const target = await this.targets.load(req.staff, 'user', id);
    try {
      const { notice } = await action.run(this.actions, actorOf(req.staff), target.id, body, this.web.meta(req));
      res.redirect(303, `${personLink('user', target.id)}?notice=${encodeURIComponent(notice)}`);
    } catch (error) {
      const refusal = refusalOf(error, ['forbidden']);
      const csrf = this.web.csrf(req, res);
      const form = reasonForm({
        action: `${personLink('user', target.id)}/${action.path}`,
        csrf,
        button: action.button,
        suffix: '',
        hidden: action.hidden?.(body) ?? {},
        errors: refusal.errors,
      });
      const page = actionBody({ kind: 'user', id: target.id, error: refusal.error, form });
      sendConsolePage(
        res,
        refusal.status,
        `${action.title} · ${target.profile.firstName} ${target.profile.lastName}`,
        { staff: req.staff, csrf },
        page,
      );
    }
  }
}
