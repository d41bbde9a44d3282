import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { Clock } from '#libs/core';
import { PlatformModule, type AppOptions } from '#libs/platform';
import { GatehouseClient } from './gatehouse-client.js';
import { PaymentDetailsStore } from './payment-details.js';
import { PortalController } from './portal.controller.js';
import { PortalSessions } from './portal-sessions.js';
import { PortalWeb } from './portal-web.js';
import { ensureRegistered } from './registration.js';
import { PORTAL_CLIENT, PORTAL_SETTINGS, defaultPortalSettings, type PortalClient, type PortalSettings } from './settings.js';

export interface DemoPortalOptions extends AppOptions {
  /** Where the portal lives and which issuer it trusts; `http://localhost:$DEMO_PORT` and ISSUER by default. */
  portal?: PortalSettings;
  /** A client registered beforehand (tests); by default the portal registers itself (`$DATA_DIR/demo-portal.json`). */
  client?: PortalClient;
}

/** The sample relying app: a reconciliation portal that signs in through Gatehouse. */
@Module({})
export class DemoPortalModule {
  static forRoot(options: DemoPortalOptions): DynamicModule {
    const settings = options.portal ?? defaultPortalSettings(options.config);
    return {
      module: DemoPortalModule,
      imports: [PlatformModule.forRoot('demo-portal', options)],
      controllers: [PortalController],
      providers: [
        { provide: PORTAL_SETTINGS, useValue: settings },
        {
          provide: PORTAL_CLIENT,
          inject: [DataSource, Clock, AuditService, APP_CONFIG],
          useFactory: async (dataSource: DataSource, clock: Clock, audit: AuditService, config: AppConfig): Promise<PortalClient> =>
            options.client ?? (await ensureRegistered({ dataSource, clock, audit }, settings, config.dataDir)),
        },
        PortalWeb,
        PortalSessions,
        PaymentDetailsStore,
        GatehouseClient,
      ],
    };
  }
}
