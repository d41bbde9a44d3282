import type { INestApplicationContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { StaffRole } from '#libs/staff';
import { appRoutes } from '#libs/web';
import { PUBLIC_ROUTE, REQUIRED_ROLE } from './decorators.js';
import { PUBLIC_CONTROLLERS } from './staff-auth.guard.js';

export interface ConsoleRoute {
  controller: string;
  handler: string;
  method: string;
  /** Express-style, e.g. `/staff/:id/disable`. */
  path: string;
  public: boolean;
  role: StaffRole | null;
  /** A shared controller that is public by nature (health probes). */
  infrastructure: boolean;
}

/**
 * Every route of a running console app with what it declares (`@Public()` or `@Roles`): the
 * checked rule that no route is left undeclared (test/e2e/admin/admin-authz.e2e.spec.ts), and the
 * list of state-changing routes that the CSRF test posts to.
 */
export function consoleRoutes(app: INestApplicationContext): ConsoleRoute[] {
  const reflector = app.get(Reflector);
  return appRoutes(app).map((r) => ({
    controller: r.controller.name,
    handler: r.handler,
    method: r.method,
    path: r.path,
    public: reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, r.targets) === true,
    role: reflector.getAllAndOverride<StaffRole | undefined>(REQUIRED_ROLE, r.targets) ?? null,
    infrastructure: PUBLIC_CONTROLLERS.has(r.controller),
  }));
}
