import type { INestApplicationContext } from '@nestjs/common';
import type { StaffRole } from '#libs/staff';
import { declaredRoutes, type DeclaredRoute } from '#libs/web';
import { PUBLIC_ROUTE, REQUIRED_ROLE } from './decorators.js';
import { PUBLIC_CONTROLLERS } from './staff-auth.guard.js';

export type ConsoleRoute = DeclaredRoute<{ public: boolean; role: StaffRole | null }>;

/**
 * Every route of a running console app with what it declares (`@Public()` or `@Roles`): the
 * checked rule that no route is left undeclared (test/e2e/admin/admin-authz.e2e.spec.ts), and the
 * list of state-changing routes that the CSRF test posts to.
 */
export function consoleRoutes(app: INestApplicationContext): ConsoleRoute[] {
  return declaredRoutes(app, PUBLIC_CONTROLLERS, (targets, reflector) => ({
    public: reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, targets) === true,
    role: reflector.getAllAndOverride<StaffRole | undefined>(REQUIRED_ROLE, targets) ?? null,
  }));
}
