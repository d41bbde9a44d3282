import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule, type AppOptions } from '../../../libs/platform/src/index.js';

/** The support console. Served only on ADMIN_PORT, never on the public port. */
@Module({})
export class AdminModule {
  static forRoot(options: AppOptions): DynamicModule {
    return { module: AdminModule, imports: [PlatformModule.forRoot('admin', options)] };
  }
}
