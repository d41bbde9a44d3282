/**
 * The IdP in a benchmark's own process, as `createIdpApp` makes it: fixed secrets, its log
 * lines counted and dropped, and every statement its pool sends counted (StatementProfile).
 */
import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createIdpApp } from '../../apps/idp/src/app.js';
import { testSecrets, type AppConfig } from '#libs/config';
import { countingLogStream, onCleanUp } from './harness.js';
import { StatementProfile } from './measure.js';

export interface BenchIdp {
  app: INestApplication;
  /** Where it listens. */
  base: string;
  profile: StatementProfile;
  /** Log lines it wrote so far. */
  logLines(): number;
}

/** Starts the IdP on 127.0.0.1:`port` (0: a free one); it is closed at clean-up. */
export async function startIdp(config: AppConfig, databaseUrl: string, port = 0): Promise<BenchIdp> {
  const logs = countingLogStream();
  const profile = new StatementProfile();
  const uninstall = profile.install('gatehouse-idp');
  onCleanUp(async () => uninstall());
  const app = await createIdpApp({ config, databaseUrl, secrets: testSecrets('bench'), logStream: logs.stream });
  onCleanUp(async () => await app.close());
  await app.listen(port, '127.0.0.1');
  const base = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
  return { app, base, profile, logLines: logs.lines };
}
