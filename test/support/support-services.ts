import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import { testSecrets } from '#libs/config';
import { FixedClock } from '#libs/core';
import { NotificationsModule } from '#libs/notifications';
import { OtpMessageQueue, OtpModule } from '#libs/otp';
import { PlatformModule } from '#libs/platform';
import { SecurityCodeGuard } from '#libs/recovery';
import { RememberedDeviceService, SessionService } from '#libs/sessions';
import { OutboxOtpQueue } from '#libs/signin';
import {
  AccountActionsService,
  ContactApprovalService,
  CorrectionRequestService,
  ProfileCorrectionService,
  SupportModule,
  type StaffActor,
} from '#libs/support';
import { apiCsrf, seedStaff, signInStaff, type SeededStaff } from './admin.js';
import { LogCapture, startApp, testConfig, type RunningApp } from './apps.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startHarness, type Harness } from './journeys.js';
import { TestMailServer } from './mail.js';
import { WebClient } from './web.js';
import { TestWebhookReceiver } from './webhook.js';

/**
 * The support console's domain services (libs/support) wired by Nest as the console wires
 * them, on a fresh database, a FixedClock, a real SMTP server and an SMS webhook receiver.
 */
export interface SupportServices {
  db: TestDatabase;
  mail: TestMailServer;
  sms: TestWebhookReceiver;
  clock: FixedClock;
  context: INestApplicationContext;
  corrections: ProfileCorrectionService;
  approvals: ContactApprovalService;
  requests: CorrectionRequestService;
  actions: AccountActionsService;
  guard: SecurityCodeGuard;
  sessions: SessionService;
  devices: RememberedDeviceService;
  close(): Promise<void>;
}

export async function startSupportServices(start = '2026-07-01T09:00:00Z'): Promise<SupportServices> {
  const db = await createTestDatabase();
  const mail = await TestMailServer.start();
  const sms = await TestWebhookReceiver.start();
  const services = await supportServicesOn({ db, mail, sms, clock: new FixedClock(start) });
  return {
    ...services,
    async close() {
      await services.close();
      await mail.stop();
      await sms.stop();
      await db.drop();
    },
  };
}

/** The services on a database, clock and senders of someone else's (an IdP harness's); `close` closes only them. */
export async function supportServicesOn(deps: Pick<SupportServices, 'db' | 'mail' | 'sms' | 'clock'>): Promise<SupportServices> {
  const config = testConfig({ SMTP_URL: deps.mail.url, SMS_WEBHOOK_URL: deps.sms.url });
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.forRoot('support-test', {
        config,
        databaseUrl: deps.db.url,
        clock: deps.clock,
        secrets: testSecrets(),
        logStream: new LogCapture(),
      }),
      OtpModule.forRoot({ imports: [NotificationsModule], queue: { provide: OtpMessageQueue, useClass: OutboxOtpQueue } }),
      SupportModule,
    ],
  }).compile();
  const context = await moduleRef.init();
  return {
    ...deps,
    context,
    corrections: context.get(ProfileCorrectionService),
    approvals: context.get(ContactApprovalService),
    requests: context.get(CorrectionRequestService),
    actions: context.get(AccountActionsService, { strict: false }),
    guard: context.get(SecurityCodeGuard, { strict: false }),
    sessions: context.get(SessionService, { strict: false }),
    devices: context.get(RememberedDeviceService, { strict: false }),
    async close() {
      // Let notices handed to the sender after a commit finish before the pool closes.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await context.close();
    },
  };
}

export const SUPPORT: StaffActor = { id: '00000000-0000-4000-8000-0000000000a1', role: 'support' };
export const SUPERVISOR: StaffActor = { id: '00000000-0000-4000-8000-0000000000b2', role: 'supervisor' };
export const SUPERVISOR_2: StaffActor = { id: '00000000-0000-4000-8000-0000000000c3', role: 'supervisor' };

/** Audit events of one type, oldest first. */
export async function auditEvents(ds: DataSource, type: string): Promise<Array<Record<string, unknown>>> {
  return await ds.query(`SELECT * FROM audit_events WHERE event_type = $1 ORDER BY id`, [type]);
}

/**
 * The IdP (with its real SMTP server and SMS/voice receivers) and the support console on one
 * database and FixedClock, with three signed-in staff members: a support agent and two
 * supervisors (four-eyes needs two).
 */
export interface ConsoleWithIdp {
  h: Harness;
  admin: RunningApp;
  support: SeededStaff;
  supervisor: SeededStaff;
  supervisor2: SeededStaff;
  /** A console client signed in as this staff member (a fresh sign-in each call). */
  as(who: SeededStaff): Promise<WebClient>;
  close(): Promise<void>;
}

export async function startConsoleWithIdp(): Promise<ConsoleWithIdp> {
  const h = await startHarness();
  const config = testConfig({ SMTP_URL: h.mail.url, SMS_WEBHOOK_URL: h.sms.url, VOICE_WEBHOOK_URL: h.voice.url });
  const admin = await startApp('admin', h.db.url, { config, clock: h.clock });
  const support = await seedStaff(h.db.dataSource, { email: 'sam.support@staff.example', role: 'support', name: 'Sam Support' });
  const supervisor = await seedStaff(h.db.dataSource, { email: 'vera.visor@staff.example', role: 'supervisor', name: 'Vera Visor' });
  const supervisor2 = await seedStaff(h.db.dataSource, { email: 'otto.other@staff.example', role: 'supervisor', name: 'Otto Other' });
  return {
    h,
    admin,
    support,
    supervisor,
    supervisor2,
    async as(who) {
      const web = new WebClient(admin.url);
      const landed = await signInStaff(h, web, who);
      if (landed.status !== 200) throw new Error(`staff sign-in of ${who.email} ended with ${landed.status}`);
      return web;
    },
    async close() {
      await admin.close();
      await h.close();
    },
  };
}

/** A JSON call of the console's API with the session cookie of `web` and, for POSTs, its CSRF token. */
export async function consoleApi(
  web: WebClient,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  options: { csrf?: string | null } = {},
): Promise<{ status: number; type: string | null; body: Record<string, unknown>; raw: string }> {
  const csrf = options.csrf === undefined && method !== 'GET' ? await apiCsrf(web) : options.csrf;
  const response = await fetch(new URL(path, web.base), {
    method,
    headers: {
      Cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(csrf ? { 'X-CSRF-Token': csrf } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const raw = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
    raw,
  };
}
