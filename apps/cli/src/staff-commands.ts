import { type Command, Option } from 'commander';
import type { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import { resolveSecrets, type AppConfig } from '#libs/config';
import { DomainError, SystemClock } from '#libs/core';
import { PasswordHasher } from '#libs/identity';
import { DEFAULT_OUTBOX_POLICY, OutboxService, OutboxWorker, createSenders } from '#libs/notifications';
import { STAFF_ROLES, StaffService, StaffSessionService, type StaffRole } from '#libs/staff';
import { ThrottleService } from '#libs/throttle';

export interface StaffCommandDeps {
  io: { out: (line: string) => void; err: (line: string) => void };
  config: () => AppConfig;
  withDatabase: <T>(config: AppConfig, io: StaffCommandDeps['io'], work: (ds: DataSource) => Promise<T>) => Promise<T>;
  operator: { id: string };
}

/**
 * `staff:create --email <email> --name <name> --role <support|supervisor>` (CONTRACT.md):
 * creates a support-console account and emails it a one-time setup code, through the
 * outbox (sent at once; a message the mail server does not take now is retried by the
 * running apps' outbox workers).
 */
export function registerStaffCommands(program: Command, deps: StaffCommandDeps): void {
  program
    .command('staff:create')
    .description('create a support-console account and email it a one-time setup code')
    .requiredOption('--email <email>', 'the staff member’s work email address (also where sign-in codes go)')
    .requiredOption('--name <name>', 'full name')
    .addOption(new Option('--role <role>', 'support or supervisor').choices([...STAFF_ROLES]).makeOptionMandatory())
    .action(async (opts: { email: string; name: string; role: StaffRole }) => {
      const config = deps.config();
      await deps.withDatabase(config, deps.io, async (ds) => {
        const clock = new SystemClock();
        const secrets = resolveSecrets(config);
        const audit = new AuditService(ds, clock);
        const senders = createSenders(config, clock, DEFAULT_OUTBOX_POLICY);
        const worker = new OutboxWorker(ds, clock, secrets, senders.mail, senders.sms, senders.voice, DEFAULT_OUTBOX_POLICY);
        const outbox = new OutboxService(ds, clock, secrets, worker, DEFAULT_OUTBOX_POLICY);
        const staff = new StaffService(
          ds,
          clock,
          secrets,
          new PasswordHasher(config.argon2),
          audit,
          outbox,
          new ThrottleService(ds, clock),
          new StaffSessionService(ds, clock, audit),
        );
        let created;
        try {
          created = await staff.create(opts, { type: 'operator', id: deps.operator.id });
        } catch (error) {
          const fields = error instanceof DomainError ? (error.details.fieldErrors as Record<string, string> | undefined) : undefined;
          if (fields)
            throw new DomainError(
              'invalid_input',
              Object.entries(fields)
                .map(([k, v]) => `--${k}: ${v}`)
                .join(' '),
            );
          throw error;
        }
        deps.io.out(`created staff member ${created.staff.email} (${created.staff.role}, ${created.staff.id})`);
        const delivery = await outbox.deliverNow(created.messageId);
        if (delivery === 'sent') {
          deps.io.out(`setup code sent by email to ${created.staff.email}; valid until ${created.staff.setupExpiresAt?.toISOString()}`);
        } else if (delivery === 'pending') {
          deps.io.err(
            `warning: the setup email is not sent yet (${(await outbox.status(created.messageId)).lastError ?? 'still trying'}); the running apps will retry it`,
          );
        } else {
          const { lastError } = await outbox.status(created.messageId);
          throw new DomainError(
            'delivery_failed',
            `staff member created, but the setup email could not be sent (${lastError ?? 'failed'}); a supervisor can send a new setup code from the console`,
          );
        }
      });
    });
}
