import { RequestMethod, type INestApplicationContext, type Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer, Reflector } from '@nestjs/core';

/** One route of a running Nest app, with where its metadata lives. */
export interface AppRoute {
  controller: Type;
  handler: string;
  method: string;
  /** Express-style, e.g. `/staff/:id/disable`. */
  path: string;
  /** The handler function and its controller: the targets of `Reflector.getAllAndOverride`. */
  targets: [(...args: unknown[]) => unknown, Type];
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
 * Every route of a running app (each controller once, each of its paths): what the apps' "every
 * route declares its access" tests read the declarations from.
 */
export function appRoutes(app: INestApplicationContext): AppRoute[] {
  const routes: AppRoute[] = [];
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
        for (const base of prefix) {
          for (const sub of paths(Reflect.getMetadata(PATH_METADATA, handler))) {
            routes.push({
              controller: type,
              handler: name,
              method: METHODS[method] ?? String(method),
              path: join(base, sub),
              targets: [handler as (...args: unknown[]) => unknown, type],
            });
          }
        }
      }
    }
  }
  return routes;
}

/** A route as an app's "every route declares its access" test lists it, with what the app's own decorators say (`T`). */
export type DeclaredRoute<T> = T & {
  controller: string;
  handler: string;
  method: string;
  /** Express-style, e.g. `/staff/:id/disable`. */
  path: string;
  /** A shared controller that is public by nature (health probes). */
  infrastructure: boolean;
};

/** Every route of a running app with what `declared` reads from its decorators; `publicControllers` are the infrastructure ones. */
export function declaredRoutes<T>(
  app: INestApplicationContext,
  publicControllers: ReadonlySet<unknown>,
  declared: (targets: AppRoute['targets'], reflector: Reflector) => T,
): Array<DeclaredRoute<T>> {
  const reflector = app.get(Reflector);
  return appRoutes(app).map((r) => ({
    controller: r.controller.name,
    handler: r.handler,
    method: r.method,
    path: r.path,
    ...declared(r.targets, reflector),
    infrastructure: publicControllers.has(r.controller),
  }));
}
