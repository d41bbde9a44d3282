import { BEARER_STATUS } from '#libs/oidc';
import { TRANSACTION_CODE_STATUS } from '#libs/transaction-codes';

/**
 * The HTTP status of every domain error code the IdP answers, in one place: the DomainErrors its
 * controllers and guard throw (answered as problem+json by ProblemFilter) and the errors a flow
 * step returns in its outcome (answered by the controllers with `stepStatus`).
 */
export const ERROR_STATUS: Readonly<Record<string, number>> = {
  invalid_request: 400,
  invalid_characters: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  csrf_failed: 403,
  step_up_required: 403,
  session_required: 403,
  recovery_blocked: 403,
  flow_not_found: 404,
  flow_changed: 409,
  recovery_superseded: 409,
  no_mobile: 409,
  contact_changed: 409,
  reminder_limit_reached: 409,
  flow_expired: 410,
  locked: 423,
  throttled: 429,
  otp_cooldown: 429,
  otp_rate_limited: 429,
  delivery_failed: 502,
  ...BEARER_STATUS,
  ...TRANSACTION_CODE_STATUS,
};

const RATE_LIMITED = ['throttled', 'otp_cooldown', 'otp_rate_limited'] as const;

/**
 * Which step errors a surface answers with their own status (ERROR_STATUS); any other error is
 * answered `otherwise` (a page shows the form again with its message, 200; an API says 422).
 * Field errors are 422, before the codes or after them.
 */
export interface Surface {
  codes: readonly string[];
  otherwise: number;
  fieldErrors: 'first' | 'after-codes' | 'ignored';
}

export const SURFACES = {
  signInApi: {
    codes: [...RATE_LIMITED, 'invalid_credentials', 'invalid_characters', 'locked', 'delivery_failed'],
    otherwise: 422,
    fieldErrors: 'first',
  },
  signInPage: { codes: ['throttled', 'locked', 'invalid_credentials', 'invalid_characters'], otherwise: 200, fieldErrors: 'ignored' },
  enrollmentPage: { codes: [], otherwise: 200, fieldErrors: 'first' },
  recoveryApi: { codes: ['invalid_characters', ...RATE_LIMITED, 'delivery_failed'], otherwise: 422, fieldErrors: 'after-codes' },
  recoveryPage: { codes: ['invalid_characters', 'throttled'], otherwise: 200, fieldErrors: 'after-codes' },
  accountApi: { codes: ['step_up_required', ...RATE_LIMITED, 'delivery_failed', 'no_mobile'], otherwise: 422, fieldErrors: 'ignored' },
  accountPage: { codes: RATE_LIMITED, otherwise: 200, fieldErrors: 'after-codes' },
  contacts: {
    codes: ['otp_cooldown', 'otp_rate_limited', 'delivery_failed', 'reminder_limit_reached', 'contact_changed', 'session_required'],
    otherwise: 422,
    fieldErrors: 'ignored',
  },
} as const satisfies Record<string, Surface>;

/** The status of a step's outcome on a surface: 200 without an error; see Surface. */
export function stepStatus(surface: Surface, error: { code: string } | undefined, fieldErrors?: Record<string, string>): number {
  const fields = fieldErrors !== undefined && Object.keys(fieldErrors).length > 0 && surface.fieldErrors !== 'ignored';
  if (fields && surface.fieldErrors === 'first') return 422;
  if (error && surface.codes.includes(error.code)) return ERROR_STATUS[error.code] ?? surface.otherwise;
  if (fields) return 422;
  return error ? surface.otherwise : 200;
}

/** A step's error as the JSON API answers it. */
export function stepErrorJson(
  error: { code: string; message: string; retryAfterSeconds?: number; attemptsLeft?: number } | undefined,
): Record<string, unknown> | undefined {
  if (!error) return undefined;
  return { code: error.code, message: error.message, retry_after: error.retryAfterSeconds, attempts_left: error.attemptsLeft };
}

/**
 * The status of a page that ends a flow on a thrown DomainError (the page says why and offers to
 * start again): as ERROR_STATUS says, except that a flow a page cannot find is gone (410) rather
 * than not found (404), and any other flow error is 410 too.
 */
export function endedFlowPageStatus(code: string): number {
  if (code === 'flow_not_found') return 410;
  return ERROR_STATUS[code] ?? 410;
}
