import type { INestApplication } from '@nestjs/common';
import { createHttpApp, type AppOptions } from '../../../libs/platform/src/index.js';
import { AdminModule } from './admin.module.js';

export async function createAdminApp(options: AppOptions): Promise<INestApplication> {
  return await createHttpApp(AdminModule.forRoot(options), options.config);
}
