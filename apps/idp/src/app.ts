import type { INestApplication } from '@nestjs/common';
import { isProviderPath } from '#libs/oidc';
import { createHttpApp } from '#libs/platform';
import { mountDirectLane } from './direct-lane.js';
import { IdpModule, type IdpOptions } from './idp.module.js';

export async function createIdpApp(options: IdpOptions): Promise<INestApplication> {
  // oidc-provider reads its own request bodies, so Nest's parsers skip its paths (IdpModule mounts it).
  const app = await createHttpApp(IdpModule.forRoot(options), options.config, { rawBodyPaths: isProviderPath });
  // The provider's endpoints for programs (token, discovery, ...) skip Express and Nest.
  mountDirectLane(app, options);
  return app;
}
