import type { Response } from 'express';
import { DomainError } from '#libs/core';
import { PageAnswer } from './auth/index.js';

/*
 * How the IdP's controllers run one step of a flow: a page maps the DomainErrors of its step to
 * a page or a redirect (thrown as a PageAnswer, which the page filter sends); a code page reads
 * which button was pressed; the JSON API picks the step of `:id/:action` from a table.
 */

/** What a page answers when its step throws a DomainError; any other error goes on to the filters. */
export interface PageStepErrors {
  /** `unauthorized` (the session ended meanwhile): redirected here (sign-in, and back). */
  signedOut?: string;
  /** `flow_changed` (the flow moved on, e.g. in another tab): redirected here, its current step. */
  changed?: string;
  /** The codes that end the flow: a page says why and offers to start again at `back` (default sign-in). */
  ends: (code: string) => boolean;
  back?: string;
  /** Done before the page that ends the flow is sent (e.g. its cookie is cleared). */
  onEnd?: (res: Response) => void;
}

/** Every `flow_*` error ends the flow. */
export const FLOW_ERRORS = (code: string): boolean => code.startsWith('flow_');

/** Runs a page's step; a DomainError that `errors` answers becomes that page or redirect (see PageStepErrors). */
export async function pageStep<T>(errors: PageStepErrors, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    if (error.code === 'unauthorized' && errors.signedOut) throw PageAnswer.redirect(errors.signedOut);
    if (error.code === 'flow_changed' && errors.changed) throw PageAnswer.redirect(errors.changed);
    if (errors.ends(error.code)) throw PageAnswer.flowEnded(error.code, error.message, errors.back, errors.onEnd);
    throw error;
  }
}

/** What a code page's post asks for: a code by the chosen channel (`send`), the same again (`resend`), or to check the code typed. */
export type CodeFormAction = 'send' | 'resend' | 'verify';

/**
 * Which button of a code page was pressed. No code sent yet (`choose_channel`): send one by the
 * chosen channel. Another channel picked and no code typed: send by that channel.
 */
export function codeFormAction(
  current: { step: string; channel?: unknown },
  body: { action?: string; channel?: unknown; code?: unknown },
): CodeFormAction {
  if (current.step === 'choose_channel') return 'send';
  if (body.action === 'resend') return 'resend';
  if (current.step === 'otp' && body.channel && body.channel !== current.channel && !body.code) return 'send';
  return 'verify';
}

/** Runs the step `action` of a JSON flow (`POST …/:id/:action`) from `steps`; any other action is 400 `invalid_request`. */
export function flowAction<O>(what: string, action: string, steps: Readonly<Record<string, () => Promise<O>>>): Promise<O> {
  const step = Object.hasOwn(steps, action) ? steps[action] : undefined;
  if (!step) throw new DomainError('invalid_request', `Unknown ${what} action "${action.slice(0, 40)}".`);
  return step();
}
