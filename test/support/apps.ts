import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createAdminApp } from '../../apps/admin/src/app.js';
import { createIdpApp } from '../../apps/idp/src/app.js';
import { loadConfig, type AppConfig } from '../../libs/config/src/index.js';
import type { Clock } from '../../libs/core/src/index.js';

/** Captures the JSON log lines an app writes, for assertions. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }

  get text(): string {
    return this.lines.join('\n');
  }
}

export interface RunningApp {
  app: INestApplication;
  url: string;
  logs: LogCapture;
  config: AppConfig;
  close(): Promise<void>;
}

export function testConfig(env: Record<string, string> = {}): AppConfig {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'info', ARGON2_MEMORY_KIB: '8192', ARGON2_TIME_COST: '1', ...env });
}

/** Starts the IdP or the support console on a free port against a test database. */
export async function startApp(
  kind: 'idp' | 'admin',
  databaseUrl: string,
  options: { config?: AppConfig; clock?: Clock } = {},
): Promise<RunningApp> {
  const logs = new LogCapture();
  const config = options.config ?? testConfig();
  const create = kind === 'idp' ? createIdpApp : createAdminApp;
  const app = await create({ config, databaseUrl, logStream: logs, ...(options.clock ? { clock: options.clock } : {}) });
  await app.listen(0, '127.0.0.1');
  const address = (app.getHttpServer() as Server).address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${address.port}`, logs, config, close: () => app.close() };
}
