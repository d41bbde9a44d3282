import type { INestApplication } from '@nestjs/common';
import { createHttpApp, type AppOptions } from '../../../libs/platform/src/index.js';
import { IdpModule } from './idp.module.js';

export async function createIdpApp(options: AppOptions): Promise<INestApplication> {
  return await createHttpApp(IdpModule.forRoot(options));
}
