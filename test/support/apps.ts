import type { INestApplication } from '@nestjs/common';
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createAdminApp } from '../../apps/admin/src/app.js';
import { createIdpApp } from '../../apps/idp/src/app.js';
import { loadConfig, testSecrets, type AppConfig, type Secrets } from '#libs/config';
import type { Clock } from '#libs/core';
import type { OutboxPolicy } from '#libs/notifications';
import type { OidcTimers } from '#libs/oidc';

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

/** Each test process's own DATA_DIR: a file outbox or credentials file written by a test never lands in the checkout. */
const TEST_DATA_DIR = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));

export function testConfig(env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
    DATA_DIR: TEST_DATA_DIR,
    ...env,
  });
}

/** Starts the IdP or the support console on a free port against a test database. */
export async function startApp(
  kind: 'idp' | 'admin',
  databaseUrl: string,
  options: {
    config?: AppConfig;
    clock?: Clock;
    secrets?: Secrets;
    outboxPolicy?: Partial<OutboxPolicy>;
    /** The IdP's OpenID provider intervals (key refresh, logout queue, logout retries). */
    oidcTimers?: Partial<OidcTimers>;
    /** A fixed port (e.g. one the ISSUER names); a free one by default. */
    port?: number;
  } = {},
): Promise<RunningApp> {
  const logs = new LogCapture();
  const config = options.config ?? testConfig();
  const common = {
    config,
    databaseUrl,
    logStream: logs,
    secrets: options.secrets ?? testSecrets(),
    ...(options.clock ? { clock: options.clock } : {}),
  };
  // The outbox policy is the IdP's (it sends the codes); the support console takes none.
  const app =
    kind === 'idp'
      ? await createIdpApp({
          ...common,
          ...(options.outboxPolicy ? { outboxPolicy: options.outboxPolicy } : {}),
          ...(options.oidcTimers ? { oidcTimers: options.oidcTimers } : {}),
        })
      : await createAdminApp(common);
  await app.listen(options.port ?? 0, '127.0.0.1');
  const address = (app.getHttpServer() as Server).address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${address.port}`, logs, config, close: () => app.close() };
}
