import type { INestApplication } from '@nestjs/common';
import { createHttpApp } from '../../../libs/platform/src/index.js';
import { IdpModule, type IdpOptions } from './idp.module.js';

export async function createIdpApp(options: IdpOptions): Promise<INestApplication> {
  return await createHttpApp(IdpModule.forRoot(options), options.config);
}
