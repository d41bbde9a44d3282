import { SupportApiController } from './support-api.controller.js';
import { SupportActionsController } from './support-actions.controller.js';
import { SupportApprovalsController } from './support-approvals.controller.js';
import { SupportTargets } from './support-common.js';
import { SupportEditController } from './support-edit.controller.js';
import { SupportRequestsController } from './support-requests.controller.js';

/** The support actions' controllers and providers, registered in AdminModule (with SupportModule from libs/support). */
export const SUPPORT_CONTROLLERS = [
  SupportEditController,
  SupportActionsController,
  SupportApprovalsController,
  SupportRequestsController,
  SupportApiController,
];

export const SUPPORT_PROVIDERS = [SupportTargets];
