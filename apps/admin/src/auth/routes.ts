import { RequestMethod, type INestApplicationContext, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer, Reflector } from '@nestjs/core';
import type { StaffRole } from '../../../../libs/staff/src/index.js';
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

const METHODS: Record<number, string> = {
  [RequestMethod.GET]: 'GET',
  [RequestMethod.POST]: 'POST',
  [RequestMethod.PUT]: 'PUT',
  [RequestMethod.DELETE]: 'DELETE',
  [RequestMethod.PATCH]: 'PATCH',
  [RequestMethod.ALL]: 'ALL',
  [RequestMethod.OPTIONS]: 'OPTIONS',
  [RequestMethod.HEAD]: 'HEAD',
};

const join = (...parts: Array<string | undefined>) =>
  `/${parts
    .filter((p): p is string => typeof p === 'string')
    .map((p) => p.replace(/^\/+|\/+$/gu, ''))
    .filter((p) => p !== '')
    .join('/')}`;

const paths = (value: unknown): string[] => (Array.isArray(value) ? (value as string[]) : [typeof value === 'string' ? value : '']);

/**
 * Every route of a running console app with what it declares (`@Public()` or `@Roles`): the
 * checked rule that no route is left undeclared (test/admin-authz.e2e.spec.ts), and the
 * list of state-changing routes that the CSRF test posts to.
 */
export function consoleRoutes(app: INestApplicationContext): ConsoleRoute[] {
  const reflector = app.get(Reflector);
  const routes: ConsoleRoute[] = [];
  const seen = new Set<unknown>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype as Type | null;
      if (!type || seen.has(type)) continue;
      seen.add(type);
      const prefix = paths(Reflect.getMetadata(PATH_METADATA, type));
      const proto = type.prototype as Record<string, unknown>;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as number | undefined;
        if (method === undefined) continue;
        const targets = [handler, type];
        for (const base of prefix) {
          for (const sub of paths(Reflect.getMetadata(PATH_METADATA, handler))) {
            routes.push({
              controller: type.name,
              handler: name,
              method: METHODS[method] ?? String(method),
              path: join(base, sub),
              public: reflector.getAllAndOverride<boolean | undefined>(PUBLIC_ROUTE, targets) === true,
              role: reflector.getAllAndOverride<StaffRole | undefined>(REQUIRED_ROLE, targets) ?? null,
              infrastructure: PUBLIC_CONTROLLERS.has(type),
            });
          }
        }
      }
    }
  }
  return routes;
}
