import type { Response } from 'express';
import { DomainError } from '#libs/core';
import { PageAnswer } from './auth/index.js';
import { FLOW_ERRORS, codeFormAction, flowAction, pageStep, type PageStepErrors } from './flow-steps.js';

/** What a PageAnswer sends, recorded. */
function sent(answer: PageAnswer): { calls: string[]; status?: number; location?: string; body?: string } {
  const out: { calls: string[]; status?: number; location?: string; body?: string } = { calls: [] };
  const res = {
    redirect: (status: number, location: string) => Object.assign(out, { status, location }),
    setHeader: (name: string) => out.calls.push(`header ${name}`),
    status(status: number) {
      out.status = status;
      return this;
    },
    type() {
      return this;
    },
    send: (body: string) => Object.assign(out, { body }),
  } as unknown as Response;
  answer.send(res);
  return out;
}

async function thrown(errors: PageStepErrors, error: Error): Promise<unknown> {
  return pageStep(errors, () => Promise.reject(error)).then(
    () => 'no error',
    (e: unknown) => e,
  );
}

describe('pageStep: how a page answers the DomainErrors of its step', () => {
  const cleared: string[] = [];
  const errors: PageStepErrors = {
    signedOut: '/signin?return_to=%2Faccount',
    changed: '/recover',
    ends: (code) => code === 'flow_expired' || code === 'recovery_blocked',
    back: '/account',
    onEnd: () => cleared.push('cookie'),
  };

  it('answers what the step returns', async () => {
    await expect(pageStep(errors, () => Promise.resolve(42))).resolves.toBe(42);
  });

  it('redirects a session that ended to sign-in, and a changed flow to its page', async () => {
    expect(sent((await thrown(errors, new DomainError('unauthorized', 'x'))) as PageAnswer)).toMatchObject({
      status: 303,
      location: '/signin?return_to=%2Faccount',
    });
    expect(sent((await thrown(errors, new DomainError('flow_changed', 'x'))) as PageAnswer)).toMatchObject({
      status: 303,
      location: '/recover',
    });
  });

  it('ends the flow on the codes it names: a page that says why and links back, after onEnd', async () => {
    const answer = sent((await thrown(errors, new DomainError('flow_expired', 'This step took too long.'))) as PageAnswer);
    expect(answer.status).toBe(410);
    expect(answer.body).toContain('This step took too long.');
    expect(answer.body).toContain('href="/account"');
    expect(answer.calls).toEqual(['header Cache-Control']);
    expect(cleared).toEqual(['cookie']);
  });

  it('passes on any other error, DomainError or not', async () => {
    const other = new DomainError('invalid_request', 'x');
    expect(await thrown(errors, other)).toBe(other);
    const bug = new Error('bug');
    expect(await thrown(errors, bug)).toBe(bug);
    // Without `signedOut` or `changed`, those codes are not answered either.
    const unauthorized = new DomainError('unauthorized', 'x');
    expect(await thrown({ ends: FLOW_ERRORS }, unauthorized)).toBe(unauthorized);
    expect(await thrown({ ends: FLOW_ERRORS }, new DomainError('flow_changed', 'x'))).toBeInstanceOf(PageAnswer);
  });
});

describe('codeFormAction: which button of a code page was pressed', () => {
  it('sends a first code by the chosen channel while none was sent', () => {
    expect(codeFormAction({ step: 'choose_channel' }, { code: '123456' })).toBe('send');
  });

  it('sends again on "Send a new code"', () => {
    expect(codeFormAction({ step: 'otp', channel: 'sms' }, { action: 'resend', channel: 'sms', code: '1' })).toBe('resend');
  });

  it('sends by another channel picked with no code typed, else checks the code', () => {
    expect(codeFormAction({ step: 'otp', channel: 'sms' }, { channel: 'voice' })).toBe('send');
    expect(codeFormAction({ step: 'otp', channel: 'sms' }, { channel: 'voice', code: '123456' })).toBe('verify');
    expect(codeFormAction({ step: 'otp', channel: 'sms' }, { channel: 'sms' })).toBe('verify');
    expect(codeFormAction({ step: 'otp', channel: 'sms' }, { channel: '' })).toBe('verify');
  });
});

describe('flowAction: the step of a JSON flow by its `:action`', () => {
  const steps = { otp: () => Promise.resolve('checked'), resend: () => Promise.resolve('sent') };

  it('runs the named step', async () => {
    await expect(flowAction('recovery', 'otp', steps)).resolves.toBe('checked');
  });

  it('refuses any other action (an inherited name too) as invalid_request', () => {
    for (const action of ['nope', 'toString', 'constructor']) {
      expect(() => flowAction('recovery', action, steps)).toThrow(
        expect.objectContaining({ code: 'invalid_request', message: `Unknown recovery action "${action}".` }),
      );
    }
    expect(() => flowAction('step-up', 'x'.repeat(50), steps)).toThrow(`Unknown step-up action "${'x'.repeat(40)}".`);
  });
});
