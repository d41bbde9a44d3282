import { Module, type DynamicModule } from '@nestjs/common';
import { PlatformModule, type AppOptions } from '../../../libs/platform/src/index.js';

/** The public server: sign-in pages, flow API, OIDC and self-service. */
@Module({})
export class IdpModule {
  static forRoot(options: AppOptions): DynamicModule {
    return { module: IdpModule, imports: [PlatformModule.forRoot('idp', options)] };
  }
}
