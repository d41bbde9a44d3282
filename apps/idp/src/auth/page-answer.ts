import type { Response } from 'express';
import { sendPage } from '#libs/web';
import { endedFlowPageStatus } from '../status.js';
import { errorPage } from '../views.js';

export { sendPage };

/**
 * An answer decided before (or instead of) a page handler: a redirect to sign-in, a refused
 * form. Thrown by the guard or a handler; the IdP's page filter (UnavailableFilter) sends it.
 */
export class PageAnswer extends Error {
  private constructor(readonly send: (res: Response) => void) {
    super('page answer');
  }

  static redirect(location: string): PageAnswer {
    return new PageAnswer((res) => res.redirect(303, location));
  }

  static page(status: number, body: string): PageAnswer {
    return new PageAnswer((res) => sendPage(res, status, body));
  }

  /**
   * A flow that a page's step found ended (expired, unknown, changed under it, …): the page says
   * why (status as endedFlowPageStatus says) and offers to start again at `back`; `before` runs first.
   */
  static flowEnded(code: string, message: string, back?: string, before?: (res: Response) => void): PageAnswer {
    return new PageAnswer((res) => {
      before?.(res);
      sendPage(res, endedFlowPageStatus(code), errorPage('Please start again', message, back));
    });
  }

  /** A form post on a page flow without its cookie, CSRF token or origin: nothing happens, start again. */
  static flowFormRefused(): PageAnswer {
    return PageAnswer.page(
      403,
      errorPage('Please start again', 'This form has expired or was not sent from this site. Please start again.'),
    );
  }

  /** A signed-in (or interaction) form post without its CSRF token or origin: nothing happens; `back` links home. */
  static formRefused(back?: string): PageAnswer {
    return PageAnswer.page(403, errorPage('Please try again', 'This form has expired or was not sent from this site.', back));
  }
}
