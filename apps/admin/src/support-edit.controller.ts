import { Body, Controller, Get, Param, Res, UseFilters } from '@nestjs/common';
import { Post } from '@nestjs/common';
import type { Response } from 'express';
import { ContactApprovalService, ProfileCorrectionService, checkProfile, splitForApproval, type ProfileInput } from '#libs/support';
import { AdminWeb } from './admin-web.js';
import { Roles, SignedIn, type SignedInRequest } from './auth/index.js';
import { PersonSections } from './people/sections.js';
import {
  SupportErrorFilter,
  SupportTargets,
  actorOf,
  formValues,
  profileInput,
  refusalOf,
  valuesOf,
  type Target,
} from './support-common.js';
import {
  devicesSection,
  editBody,
  editSection,
  recoverySection,
  savedBody,
  sessionsSection,
  statusSection,
  type EditPreview,
  type Values,
} from './support-views.js';
import { sendConsolePage } from './views/layout.js';

type Form = Record<string, unknown>;

/**
 * Correcting a person (`First name`, `Last name`, `Email`, `Mobile number`, `Reason`, `Save`):
 * a pending legacy account's prefilled data at once, an enrolled user's names at once and
 * email/mobile after a supervisor's approval. The confirmation shows the before/after diff.
 * Also adds the support actions' sections to the person page.
 */
@Controller('people/:kind/:id/edit')
@Roles('support')
@UseFilters(SupportErrorFilter)
export class SupportEditController {
  constructor(
    private readonly web: AdminWeb,
    private readonly targets: SupportTargets,
    private readonly corrections: ProfileCorrectionService,
    private readonly approvals: ContactApprovalService,
    sections: PersonSections,
  ) {
    sections.add({
      id: 'support-edit',
      order: 15,
      render: async ({ person, staff, csrf }) => {
        const pending = person.kind === 'user' ? await this.approvals.pendingForUser(person.id) : null;
        return editSection(person, csrf, pending, pending?.requestedBy === staff.id, staff.role === 'supervisor');
      },
    });
    // The action forms of an enrolled user, each in its section after the read-only one it acts on.
    const forms = {
      'support-devices': [35, devicesSection],
      'support-sessions': [45, sessionsSection],
      'support-recovery': [55, recoverySection],
      'support-status': [70, statusSection],
    } as const;
    for (const [id, [order, form]] of Object.entries(forms)) {
      sections.add({ id, order, applies: (p) => p.kind === 'user', render: ({ person, csrf }) => form(person, csrf) });
    }
  }

  @Get()
  async form(@SignedIn() req: SignedInRequest, @Res() res: Response, @Param('kind') kind: string, @Param('id') id: string): Promise<void> {
    const target = await this.targets.load(req.staff, kind, id);
    if (target.enrolledAs) return res.redirect(303, `/people/user/${target.enrolledAs}/edit`);
    await this.render(req, res, target, 200, { values: valuesOf(target.profile) });
  }

  @Post()
  async save(
    @SignedIn() req: SignedInRequest,
    @Res() res: Response,
    @Param('kind') kind: string,
    @Param('id') id: string,
    @Body() body: Form,
  ): Promise<void> {
    const target = await this.targets.load(req.staff, kind, id);
    const input = profileInput(body);
    if (body.action === 'preview') return await this.preview(req, res, target, input, formValues(body));
    const actor = actorOf(req.staff);
    const meta = this.web.meta(req);
    try {
      const result =
        target.kind === 'user'
          ? await this.corrections.correctUser(actor, target.id, input, body.reason, meta)
          : await this.corrections.correctLegacyAccount(actor, target.id, input, body.reason, meta);
      const saved = savedBody({
        kind: target.kind,
        id: target.id,
        applied: result.applied,
        pending: result.pending,
        heading: result.pending
          ? 'Saved. The person was told of what changed now; the email or mobile change waits for a supervisor.'
          : 'Saved. The person was told by email.',
      });
      sendConsolePage(res, 200, 'Changes saved', { staff: req.staff, csrf: this.web.csrf(req, res) }, saved);
    } catch (error) {
      const { status, ...refusal } = refusalOf(error, ['forbidden', 'not_found']);
      await this.render(req, res, target, status, { values: formValues(body), ...refusal });
    }
  }

  /**
   * `Preview changes`: the before/after diff of what `Save` would do with the typed values (what
   * changes at once, what waits for a supervisor), with the form filled in again; nothing is
   * written, told or audited. The values are checked as Save checks them.
   */
  private async preview(req: SignedInRequest, res: Response, target: Target, input: ProfileInput, values: Values): Promise<void> {
    const check = checkProfile(input, target.profile);
    if (!check.ok) return await this.render(req, res, target, 422, { values, errors: check.fieldErrors });
    await this.render(req, res, target, 200, { values, preview: splitForApproval(check.diff, target.kind === 'user') });
  }

  private async render(
    req: SignedInRequest,
    res: Response,
    target: Target,
    status: number,
    o: { values: Values; errors?: Record<string, string> | undefined; error?: string; preview?: EditPreview },
  ): Promise<void> {
    const pending = target.kind === 'user' ? await this.approvals.pendingForUser(target.id) : null;
    const title = target.kind === 'user' ? 'Edit profile' : 'Edit prefilled data';
    const csrf = this.web.csrf(req, res);
    const body = editBody({ kind: target.kind, id: target.id, csrf, ...o, pending });
    sendConsolePage(res, status, `${title} · ${target.profile.firstName} ${target.profile.lastName}`, { staff: req.staff, csrf }, body);
  }
}
