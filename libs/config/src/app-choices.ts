import { Module, type DynamicModule, type ModuleMetadata, type Provider, type Type } from '@nestjs/common';

/**
 * What a library module's `forRoot(options)` returns: a global module that carries the app's
 * choices for that library (option tokens such as SESSION_POLICY, a queue, a lifecycle hook)
 * and re-exports the library module. The app imports it once; libraries import the library
 * module plain and so share its one instance, which sees the choices because they are global.
 * `imports`: modules the choices themselves need (e.g. the outbox for an OTP queue).
 */
export function appChoices(library: Type, choices: Provider[], imports: NonNullable<ModuleMetadata['imports']> = []): DynamicModule {
  @Module({})
  class Choices {}
  Object.defineProperty(Choices, 'name', { value: `${library.name}Options` });
  const tokens = choices.map((c) => ('provide' in c ? c.provide : c));
  return { module: Choices, global: true, imports: [...imports, library], providers: choices, exports: [library, ...tokens] };
}
