import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { DataSource } from 'typeorm';
import { AuditChainVerifier, AuditService, parseAnchor, type ChainAnchor } from '#libs/audit';
import { ConfigError, loadConfig, resolveSecrets, type AppConfig } from '#libs/config';
import { DomainError, Duration, SystemClock } from '#libs/core';
import { startDatabase, type RunningDatabase } from '#libs/database';
import { LegacyAccountStore, OrganizationService } from '#libs/identity';
import { ImportFileError, LegacyImporter } from '#libs/legacy-import';
// libs/oidc-store, not libs/oidc: the CLI needs no oidc-provider (which warns on Node 20 when loaded).
import { ClientRegistry, KEY_ACTIVATION_DELAY, SIGNING_KEY_RETENTION, SigningKeyStore } from '#libs/oidc-store';
import { createDataSource, migrate } from '#libs/platform';
import { registerOrgPolicyCommands } from './org-policy-commands.js';
import { registerStaffCommands } from './staff-commands.js';
import { registerTransactionCodeCommands } from './transaction-code-commands.js';

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Thrown for a failure the operator can fix; printed as one line, exit code 1. */
class CliFailure extends Error {}

const OPERATOR = { type: 'operator' as const, id: process.env.USER ?? process.env.LOGNAME ?? 'cli' };

/** Opens the database (embedded when DATABASE_URL is unset) and applies pending migrations. */
async function withDatabase<T>(
  config: AppConfig,
  io: CliIo,
  work: (ds: DataSource, applied: string[]) => Promise<T>,
  options: { reportMigrations: boolean } = { reportMigrations: false },
): Promise<T> {
  let db: RunningDatabase | undefined;
  let ds: DataSource | undefined;
  try {
    db = await startDatabase(config.databaseUrl, config.dataDir, config.logLevel === 'debug' ? (line) => io.err(line) : undefined);
    ds = createDataSource(db.url, { poolSize: 4, applicationName: 'gatehouse-cli' });
    await ds.initialize();
    const applied = await migrate(ds);
    if (!options.reportMigrations) for (const name of applied) io.err(`applied migration ${name}`);
    return await work(ds, applied);
  } finally {
    await ds?.destroy().catch(() => undefined);
    await db?.stop().catch(() => undefined);
  }
}

function services(ds: DataSource) {
  const clock = new SystemClock();
  const audit = new AuditService(ds, clock);
  const organizations = new OrganizationService(ds, audit);
  const importer = new LegacyImporter(ds, organizations, new LegacyAccountStore(), audit);
  return { audit, organizations, importer };
}

export function buildProgram(io: CliIo, config: () => AppConfig): Command {
  const program = new Command('gatehouse');
  program
    .description('Gatehouse operator commands')
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });

  program
    .command('migrate')
    .description('apply pending database migrations and print what was applied')
    .action(async () => {
      await withDatabase(
        config(),
        io,
        async (_ds, applied) => {
          for (const name of applied) io.out(`applied ${name}`);
          io.out(applied.length === 0 ? 'database is up to date' : `applied ${applied.length} migration${applied.length > 1 ? 's' : ''}`);
        },
        { reportMigrations: true },
      );
    });

  program
    .command('org:create')
    .description('create an organization (tenant) with the default policy')
    .argument('<slug>', 'short name: lower-case letters, digits and hyphens')
    .requiredOption('--name <display name>', 'display name')
    .action(async (slug: string, opts: { name: string }) => {
      await withDatabase(config(), io, async (ds) => {
        const org = await services(ds).organizations.create(slug, opts.name, OPERATOR);
        io.out(`created organization ${org.slug} (${org.id})`);
      });
    });

  program
    .command('import-legacy')
    .description('import legacy accounts from a CSV file into an organization')
    .argument('<file.csv>', 'UTF-8 CSV with a header row')
    .requiredOption('--org <slug>', 'organization slug')
    .addOption(new Option('--batch-size <n>', 'rows per database batch').default('1000').hideHelp())
    .action(async (file: string, opts: { org: string; batchSize: string }) => {
      await withDatabase(config(), io, async (ds) => {
        const summary = await services(ds).importer.importFile(file, opts.org, {
          actor: OPERATOR,
          batchSize: Math.max(1, Math.min(10_000, Number.parseInt(opts.batchSize, 10) || 1000)),
        });
        for (const warning of summary.warnings) io.err(`warning: ${warning}`);
        if (summary.alreadyEnrolled > 0)
          io.out(`${summary.alreadyEnrolled} row(s) belong to accounts already enrolled and were left unchanged`);
        if (summary.rejectedFile) io.out(`rejected rows written to ${summary.rejectedFile}`);
        io.out(`imported=${summary.imported} updated=${summary.updated} unchanged=${summary.unchanged} rejected=${summary.rejected}`);
      });
    });

  program
    .command('audit:verify')
    .description('check the audit log hash chain; prints "ok rows=N" and the head to anchor a later run, or names the first bad row')
    .addOption(
      new Option(
        '--anchor <seq:hash>',
        'a head printed by an earlier run: fails unless that row is still in the chain unchanged',
      ).argParser((value) => {
        const anchor = parseAnchor(value);
        if (!anchor) throw new InvalidArgumentError('expected <seq>:<64 lower-case hex digits>, as printed by an earlier run');
        return anchor;
      }),
    )
    .addOption(new Option('--page-size <n>', 'rows per page').default('1000').hideHelp())
    .action(async (opts: { anchor?: ChainAnchor; pageSize: string }) => {
      await withDatabase(config(), io, async (ds) => {
        const result = await new AuditChainVerifier(ds).verify({
          anchor: opts.anchor ?? null,
          pageSize: Number.parseInt(opts.pageSize, 10) || 1000,
        });
        if (!result.ok) throw new CliFailure(result.reason);
        io.out(`ok rows=${result.rows}`);
        if (result.head) io.out(`head=${result.head.seq}:${result.head.hash}`);
      });
    });

  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command('client:create')
    .description('register an OIDC relying app or service; prints {"client_id", "client_secret"} once (the secret is stored hashed)')
    .requiredOption('--name <name>', 'display name shown to users')
    .option('--redirect-uri <uri>', 'redirect URI, exact match (repeatable); https, or http on localhost', collect, [])
    .option('--public', 'a public client (no secret; PKCE required)', false)
    .option(
      '--pkce-optional',
      'let this confidential client send authorization requests without PKCE, for a relying app that cannot send it (PKCE is required of every client by default, RFC 9700 2.1.1; a code_challenge that is sent is still checked)',
      false,
    )
    .option('--post-logout-redirect-uri <uri>', 'where to return after sign-out (repeatable)', collect, [])
    .option('--backchannel-logout-uri <uri>', "where Gatehouse POSTs a signed logout token when the user's session ends")
    .option('--grant <grant>', 'authorization_code | refresh_token | client_credentials (repeatable; default: the first two)', collect, [])
    .option(
      '--scope <scope>',
      'allowed scope (repeatable; default: openid offline_access profile email phone gatehouse; services: transaction_codes, transaction_codes:verify; user APIs: gatehouse.contacts)',
      collect,
      [],
    )
    .action(
      async (opts: {
        name: string;
        redirectUri: string[];
        public: boolean;
        pkceOptional: boolean;
        postLogoutRedirectUri: string[];
        backchannelLogoutUri?: string;
        grant: string[];
        scope: string[];
      }) => {
        await withDatabase(config(), io, async (ds) => {
          const { audit } = services(ds);
          const registered = await new ClientRegistry(ds, new SystemClock(), audit).create(
            {
              name: opts.name,
              redirectUris: opts.redirectUri,
              postLogoutRedirectUris: opts.postLogoutRedirectUri,
              backchannelLogoutUri: opts.backchannelLogoutUri ?? null,
              public: opts.public,
              pkceRequired: !opts.pkceOptional,
              grants: opts.grant,
              scopes: opts.scope,
            },
            OPERATOR,
          );
          io.out(
            JSON.stringify(
              registered.clientSecret
                ? { client_id: registered.clientId, client_secret: registered.clientSecret }
                : { client_id: registered.clientId },
            ),
          );
        });
      },
    );

  registerOrgPolicyCommands(program, { io, config, withDatabase, operator: OPERATOR });

  registerStaffCommands(program, { io, config, withDatabase, operator: OPERATOR });

  registerTransactionCodeCommands(program, { io, config, withDatabase, operator: OPERATOR });

  program
    .command('keys:rotate')
    .description(
      'generate a new OIDC signing key: published at once, signing from --activate-in seconds later; the previous key then only verifies, and stays published until tokens it signed have expired',
    )
    .addOption(
      new Option('--activate-in <seconds>', 'when the new key starts signing, once every node publishes it (0 to 86400)')
        .default(String(KEY_ACTIVATION_DELAY.milliseconds / 1000))
        .argParser((value) => {
          if (!/^\d{1,5}$/u.test(value) || Number(value) > 86_400)
            throw new InvalidArgumentError('expected a number of seconds from 0 to 86400');
          return value;
        }),
    )
    .action(async (opts: { activateIn: string }) => {
      const cfg = config();
      await withDatabase(cfg, io, async (ds) => {
        const clock = new SystemClock();
        const audit = new AuditService(ds, clock);
        const store = new SigningKeyStore(ds, clock, resolveSecrets(cfg).signingKeys);
        const rotation = await store.rotate(Duration.ofSeconds(Number(opts.activateIn)), SIGNING_KEY_RETENTION, async (r, manager) => {
          await audit.record(
            {
              type: 'oidc.signing_key_rotated',
              actor: OPERATOR,
              subject: { type: 'signing_key', id: r.kid },
              details: {
                kid: r.kid,
                activates_at: r.activatesAt.toISOString(),
                previous_kid: r.previous?.kid ?? null,
                previous_published_until: r.previous?.publishedUntil.toISOString() ?? null,
                withdrawn: r.withdrawn,
              },
            },
            manager,
          );
        });
        for (const kid of rotation.withdrawn) io.out(`withdrew ${kid} (rotated in earlier, never signed)`);
        io.out(`new signing key ${rotation.kid}: published now, signs from ${rotation.activatesAt.toISOString()}`);
        if (rotation.previous) {
          io.out(
            `previous key ${rotation.previous.kid}: verification only from then, published until ${rotation.previous.publishedUntil.toISOString()}`,
          );
        }
      });
    });

  return program;
}

const USAGE_CODES = new Set([
  'commander.unknownCommand',
  'commander.unknownOption',
  'commander.missingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.optionMissingArgument',
  'commander.excessArguments',
  'commander.invalidArgument',
  'commander.conflictingOption',
]);

/** Runs one CLI command. Returns the exit code: 0 success, 1 failure, 2 bad usage. */
export async function runCli(argv: string[], io: CliIo, env: Record<string, string | undefined> = process.env): Promise<number> {
  let cached: AppConfig | undefined;
  const program = buildProgram(io, () => (cached ??= loadConfig(env)));
  if (argv.length === 0) {
    io.err(program.helpInformation().trimEnd());
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version') return 0;
      return USAGE_CODES.has(error.code) ? 2 : 1;
    }
    if (error instanceof ConfigError) {
      io.err(`error: ${error.problems.join('; ')}`);
      return 1;
    }
    if (error instanceof DomainError || error instanceof ImportFileError || error instanceof CliFailure) {
      io.err(`error: ${error.message}`);
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.err(`error: ${message.split('\n')[0]}`);
    return 1;
  }
}
