import type { INestApplication } from '@nestjs/common';
import { createHttpApp } from '#libs/platform';
import { AdminModule, type AdminOptions } from './admin.module.js';

export async function createAdminApp(options: AdminOptions): Promise<INestApplication> {
  return await createHttpApp(AdminModule.forRoot(options), options.config);
}
