import type { INestApplicationContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { appRoutes } from '#libs/web';
import { ACCESS, FLOW_TOKEN, type Access } from './decorators.js';
import { PUBLIC_CONTROLLERS, usesBearerGuard } from './idp-auth.guard.js';

export interface IdpRoute {
  controller: string;
  handler: string;
  method: string;
  /** Express-style, e.g. `/api/v1/signin/:id/otp`. */
  path: string;
  /** What it declares: an Access kind, `bearer` (`@RequireBearer`), or null (none: closed, and a failing test). */
  access: Access['kind'] | 'bearer' | null;
  /** Whether it addresses a flow by `:id` and `X-Flow-Token`. */
  flowToken: boolean;
  /** A shared controller that is public by nature (health probes). */
  infrastructure: boolean;
}

/** Every route of a running IdP with what it declares: the checked rule that none is left undeclared (test/e2e/idp/idp-access.e2e.spec.ts). */
export function idpRoutes(app: INestApplicationContext): IdpRoute[] {
  const reflector = app.get(Reflector);
  return appRoutes(app).map((r) => ({
    controller: r.controller.name,
    handler: r.handler,
    method: r.method,
    path: r.path,
    access: usesBearerGuard(r.targets) ? 'bearer' : (reflector.getAllAndOverride<Access | undefined>(ACCESS, r.targets)?.kind ?? null),
    flowToken: reflector.getAllAndOverride<boolean | undefined>(FLOW_TOKEN, r.targets) === true,
    infrastructure: PUBLIC_CONTROLLERS.has(r.controller),
  }));
}
