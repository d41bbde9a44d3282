import type { INestApplicationContext } from '@nestjs/common';
import { declaredRoutes, type DeclaredRoute } from '#libs/web';
import { ACCESS, FLOW_TOKEN, type Access } from './decorators.js';
import { PUBLIC_CONTROLLERS, usesBearerGuard } from './idp-auth.guard.js';

export type IdpRoute = DeclaredRoute<{
  /** What it declares: an Access kind, `bearer` (`@RequireBearer`), or null (none: closed, and a failing test). */
  access: Access['kind'] | 'bearer' | null;
  /** Whether it addresses a flow by `:id` and `X-Flow-Token`. */
  flowToken: boolean;
}>;

/** Every route of a running IdP with what it declares: the checked rule that none is left undeclared (test/e2e/idp/idp-access.e2e.spec.ts). */
export function idpRoutes(app: INestApplicationContext): IdpRoute[] {
  return declaredRoutes(app, PUBLIC_CONTROLLERS, (targets, reflector) => ({
    access: usesBearerGuard(targets) ? 'bearer' : (reflector.getAllAndOverride<Access | undefined>(ACCESS, targets)?.kind ?? null),
    flowToken: reflector.getAllAndOverride<boolean | undefined>(FLOW_TOKEN, targets) === true,
  }));
}
