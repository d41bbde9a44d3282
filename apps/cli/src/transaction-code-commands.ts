import type { Command } from 'commander';
import type { DataSource } from 'typeorm';
import { AuditService } from '#libs/audit';
import type { AppConfig } from '#libs/config';
import { SystemClock } from '#libs/core';
import { VerifierGrants } from '#libs/transaction-codes';

export interface TransactionCodeCommandDeps {
  io: { out: (line: string) => void; err: (line: string) => void };
  config: () => AppConfig;
  withDatabase: <T>(config: AppConfig, io: TransactionCodeCommandDeps['io'], work: (ds: DataSource) => Promise<T>) => Promise<T>;
  operator: { type: 'operator'; id: string };
}

/**
 * `client:allow-verify --verifier <client_id> --issuer <client_id>` (CONTRACT.md): lets one
 * service verify the transaction codes another service issued. Audited; running it again
 * changes nothing.
 */
export function registerTransactionCodeCommands(program: Command, deps: TransactionCodeCommandDeps): void {
  program
    .command('client:allow-verify')
    .description('let one service (scope transaction_codes:verify) verify the transaction codes another service issued')
    .requiredOption('--verifier <client_id>', 'the service that verifies (registered with --scope transaction_codes:verify)')
    .requiredOption('--issuer <client_id>', 'the service that issues the codes (registered with --scope transaction_codes)')
    .action(async (opts: { verifier: string; issuer: string }) => {
      await deps.withDatabase(deps.config(), deps.io, async (ds) => {
        const clock = new SystemClock();
        const created = await new VerifierGrants(ds, clock, new AuditService(ds, clock)).allow(opts.verifier, opts.issuer, deps.operator);
        deps.io.out(
          created
            ? `allowed ${opts.verifier} to verify the transaction codes of ${opts.issuer}`
            : `${opts.verifier} may already verify the transaction codes of ${opts.issuer}`,
        );
      });
    });
}
