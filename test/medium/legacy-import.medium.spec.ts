import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../apps/cli/src/cli.js';
import { AuditService } from '#libs/audit';
import { SystemClock } from '#libs/core';
import { LegacyAccountStore, OrganizationService, verifyLegacyHash } from '#libs/identity';
import { LegacyImporter } from '#libs/legacy-import';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The operator CLI (`org:create`, `import-legacy`) driven in-process against a real,
 * freshly migrated PostgreSQL database. Every test works in its own organization and
 * its own temporary directory.
 */

const HEADER = ['legacy_user_id', 'password_hash', 'first_name', 'last_name', 'email', 'mobile'];

type HashFormat = 'bcrypt-2a' | 'bcrypt-2b' | 'bcrypt-2y' | 'argon2id' | 'argon2i' | 'pbkdf2';

type Account = {
  legacy_user_id: string;
  password_hash: string;
  first_name: string;
  last_name: string;
  email: string;
  mobile: string;
  /** Not a column: the password the hash was made from. */
  password: string;
};

interface CliRun {
  code: number;
  out: string[];
  err: string[];
  /** The last line printed on stdout. */
  last: string | undefined;
}

interface StoredAccount {
  organization_id: string;
  legacy_user_id: string;
  legacy_user_id_key: string;
  status: string;
  first_name: string;
  last_name: string;
  email: string;
  email_key: string;
  mobile: string | null;
  password_hash: string | null;
  hash_format: string | null;
  user_id: string | null;
  updated_at: Date;
}

let db: TestDatabase;
let dataDir: string;
let work: string;
let orgCounter = 0;
/** Everything any CLI run printed, and every hash any fixture used: nothing printed may contain one. */
const transcript: string[] = [];
const fixtureHashes = new Set<string>();

// Rows that do not ask for a hash format share this real bcrypt hash (cost 4); `makeHash` makes the others.
const SHARED_PASSWORD = 'Shared-legacy-pass-1';
let sharedBcrypt: string;

const summary = (imported: number, updated: number, unchanged: number, rejected: number) =>
  `imported=${imported} updated=${updated} unchanged=${unchanged} rejected=${rejected}`;

async function makeHash(format: HashFormat, password: string): Promise<string> {
  let hash: string;
  switch (format) {
    case 'bcrypt-2a':
    case 'bcrypt-2b':
    case 'bcrypt-2y':
      hash = `$2${format.slice(-1)}$` + (await bcrypt.hash(password, 4)).slice(4);
      break;
    case 'argon2id':
    case 'argon2i':
      hash = await argon2.hash(password, {
        type: format === 'argon2id' ? argon2.argon2id : argon2.argon2i,
        memoryCost: 1024,
        timeCost: 1,
        parallelism: 1,
      });
      break;
    case 'pbkdf2': {
      const salt = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
      hash = `pbkdf2_sha256$1000$${salt}$${pbkdf2Sync(password, salt, 1000, 32, 'sha256').toString('base64')}`;
      break;
    }
  }
  fixtureHashes.add(hash);
  return hash;
}

async function account(id: string, overrides: Partial<Account> & { format?: HashFormat } = {}): Promise<Account> {
  const { format, ...rest } = overrides;
  const password = rest.password ?? `pw:${id}`;
  const hash = rest.password_hash ?? (format ? await makeHash(format, password) : sharedBcrypt);
  return {
    legacy_user_id: id,
    first_name: 'Anna',
    last_name: 'Rossi',
    email: `${id.toLowerCase()}@example.com`,
    mobile: '',
    ...rest,
    password_hash: hash,
    password: format ? password : (rest.password ?? SHARED_PASSWORD),
  };
}

/** A CSV file's text: the header, then one line per row (csv-stringify quotes as needed). */
function csv(rows: Array<Record<string, string> | string[]>, options: { header?: string[]; eol?: string } = {}): string {
  const header = options.header ?? HEADER;
  const records = rows.map((row) => (Array.isArray(row) ? row : header.map((column) => row[column] ?? '')));
  // csv-stringify quotes commas, quotes and the record delimiter, but not a lone carriage return
  return stringify([header, ...records], { record_delimiter: options.eol ?? '\n', quoted_match: /\r/ });
}

async function writeCsv(name: string, content: string | Buffer): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, content);
  return file;
}

async function cli(...argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    argv,
    { out: (line) => out.push(line), err: (line) => err.push(line) },
    { ...process.env, DATABASE_URL: db.url, DATA_DIR: dataDir, LOG_LEVEL: 'info' },
  );
  transcript.push(...out, ...err);
  return { code, out, err, last: out.at(-1) };
}

async function importFile(file: string, slug: string, ...extra: string[]): Promise<CliRun> {
  return await cli('import-legacy', file, '--org', slug, ...extra);
}

async function newOrg(): Promise<{ slug: string; id: string }> {
  const slug = `org-${++orgCounter}`;
  const run = await cli('org:create', slug, '--name', `Organization ${orgCounter}`);
  expect(run.code).toBe(0);
  const [row] = await db.dataSource.query(`SELECT id FROM organizations WHERE slug = $1`, [slug]);
  return { slug, id: row.id as string };
}

async function stored(organizationId: string): Promise<StoredAccount[]> {
  return await db.dataSource.query(
    `SELECT organization_id, legacy_user_id, legacy_user_id_key, status, first_name, last_name, email, email_key, mobile,
            password_hash, hash_format, user_id, updated_at
       FROM legacy_accounts WHERE organization_id = $1 ORDER BY legacy_user_id_key`,
    [organizationId],
  );
}

async function storedOne(organizationId: string, legacyUserId: string): Promise<StoredAccount> {
  const rows = (await stored(organizationId)).filter((r) => r.legacy_user_id_key === legacyUserId.toLowerCase());
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function countAccounts(organizationId: string): Promise<number> {
  const [{ n }] = await db.dataSource.query(`SELECT count(*)::int AS n FROM legacy_accounts WHERE organization_id = $1`, [organizationId]);
  return n as number;
}

async function auditEvents(organizationId: string, type: string): Promise<Array<{ actor_type: string; details: Record<string, unknown> }>> {
  return await db.dataSource.query(
    `SELECT actor_type, subject_type, subject_id, details FROM audit_events
      WHERE organization_id = $1 AND event_type = $2 ORDER BY id`,
    [organizationId, type],
  );
}

/**
 * The rejected-rows file: its header, and each row keyed by that header (extra trailing fields under `extra`).
 * Read as strictly as the importer reads (any of CRLF, LF, CR ends a record): once corrected, it is imported again.
 */
async function readRejected(file: string): Promise<{ header: string[]; rows: Array<Record<string, string>> }> {
  const records: string[][] = parse(await readFile(`${file}.rejected.csv`, 'utf8'), {
    relax_column_count: true,
    record_delimiter: ['\r\n', '\n', '\r'],
  });
  const [header, ...rest] = records;
  return {
    header: header!,
    rows: rest.map((fields) => {
      const row: Record<string, string> = {};
      header!.forEach((name, i) => (row[name] = fields[i] ?? ''));
      if (fields.length > header!.length) row.extra = fields.slice(header!.length).join('|');
      return row;
    }),
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-data-'));
  sharedBcrypt = await bcrypt.hash(SHARED_PASSWORD, 4);
  fixtureHashes.add(sharedBcrypt);
});

afterAll(async () => {
  await db?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-import-'));
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('operator CLI basics', () => {
  it('--help lists the commands and exits 0', async () => {
    const run = await cli('--help');
    expect(run.code).toBe(0);
    const text = run.out.join('\n');
    expect(text).toMatch(/org:create/);
    expect(text).toMatch(/import-legacy/);
    expect(text).toMatch(/migrate/);
  });

  it('an unknown command is bad usage (exit 2)', async () => {
    const run = await cli('org:explode');
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(/unknown command/i);
  });

  it('no command at all is bad usage (exit 2)', async () => {
    const run = await cli();
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(/import-legacy/);
  });

  it('org:create creates the organization with its default policy and an audit event', async () => {
    const run = await cli('org:create', 'acme', '--name', '  ACME   Corporation ');
    expect(run.code).toBe(0);
    expect(run.err).toEqual([]);
    expect(run.last).toMatch(/^created organization acme \([0-9a-f-]{36}\)$/);
    const rows = await db.dataSource.query(`SELECT id, slug, name FROM organizations WHERE slug = 'acme'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].name).toBe('ACME Corporation');
    expect(run.last).toContain(rows[0].id);
    const policies = await db.dataSource.query(`SELECT * FROM organization_policies WHERE organization_id = $1`, [rows[0].id]);
    expect(policies).toHaveLength(1);
    const events = await auditEvents(rows[0].id, 'organization.created');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor_type: 'operator', details: { slug: 'acme', name: 'ACME Corporation' } });
  });

  it('org:create refuses a taken slug with a one-line reason (exit 1)', async () => {
    expect((await cli('org:create', 'dupe-co', '--name', 'First')).code).toBe(0);
    const run = await cli('org:create', 'dupe-co', '--name', 'Second');
    expect(run.code).toBe(1);
    expect(run.err).toEqual(['error: organization "dupe-co" already exists']);
    const rows = await db.dataSource.query(`SELECT name FROM organizations WHERE slug = 'dupe-co'`);
    expect(rows).toEqual([{ name: 'First' }]);
  });

  it.each(['Bad_Slug', 'UPPER', '-leading', 'trailing-', 'a'.repeat(64), 'spa ce', 'ünï'])(
    'org:create refuses the slug %j (exit 1, one line)',
    async (slug) => {
      const run = await cli('org:create', '--name', 'Bad', '--', slug); // `--`: a slug may start with a hyphen
      expect(run.code).toBe(1);
      expect(run.err).toHaveLength(1);
      expect(run.err[0]).toMatch(/^error: slug must be/);
      const [{ n }] = await db.dataSource.query(`SELECT count(*)::int AS n FROM organizations WHERE slug = $1`, [slug]);
      expect(n).toBe(0);
    },
  );

  it('org:create refuses a name with invisible characters (exit 1)', async () => {
    const run = await cli('org:create', 'sneaky', '--name', 'Sneaky\u202eoC');
    expect(run.code).toBe(1);
    expect(run.err).toEqual(['error: name contains control or invisible characters']);
  });

  it('org:create without --name is bad usage (exit 2) and creates nothing', async () => {
    const run = await cli('org:create', 'nameless');
    expect(run.code).toBe(2);
    expect(run.err.join('\n')).toMatch(/--name/);
    const [{ n }] = await db.dataSource.query(`SELECT count(*)::int AS n FROM organizations WHERE slug = 'nameless'`);
    expect(n).toBe(0);
  });

  it('org:create without a slug is bad usage (exit 2)', async () => {
    expect((await cli('org:create', '--name', 'X')).code).toBe(2);
  });

  it('import-legacy into an unknown organization fails (exit 1) naming it', async () => {
    const file = await writeCsv('a.csv', csv([await account('u-1')]));
    const run = await importFile(file, 'no-such-org');
    expect(run.code).toBe(1);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(/^error: organization "no-such-org" does not exist/);
    expect(run.out).toEqual([]);
  });

  it('import-legacy with a missing file fails (exit 1) naming the file', async () => {
    const org = await newOrg();
    const missing = path.join(work, 'missing.csv');
    const run = await importFile(missing, org.slug);
    expect(run.code).toBe(1);
    expect(run.err).toEqual([`error: cannot read ${missing}: no such file`]);
    expect(await countAccounts(org.id)).toBe(0);
  });

  it('import-legacy without --org or without a file is bad usage (exit 2)', async () => {
    const file = await writeCsv('a.csv', csv([await account('u-2')]));
    expect((await cli('import-legacy', file)).code).toBe(2);
    expect((await cli('import-legacy', '--org', 'x')).code).toBe(2);
  });
});

describe('import-legacy: a good file', () => {
  it('imports every accepted hash format intact, with normalized data, as pending accounts', async () => {
    const org = await newOrg();
    const accounts = [
      await account('bc-2a', { format: 'bcrypt-2a', mobile: '+393331234567' }),
      await account('BC-2b', { format: 'bcrypt-2b', first_name: '  José ', last_name: 'Núñez  García' }),
      await account('bc-2y', { format: 'bcrypt-2y', mobile: '+39 333 765 4321' }),
      await account('ar-id', { format: 'argon2id', email: 'Anna.Rossi@Example.COM' }),
      await account('ar-i', { format: 'argon2i', mobile: '+14155552671' }),
      await account('dj-1', { format: 'pbkdf2', first_name: 'Zoë', last_name: "O'Brien" }),
    ];
    for (const a of accounts.filter((x) => x.password_hash.startsWith('$argon2'))) expect(a.password_hash).toContain(',');
    const file = await writeCsv('good.csv', csv(accounts));

    const run = await importFile(file, org.slug);

    expect(run.code).toBe(0);
    expect(run.err).toEqual([]);
    expect(run.last).toBe(summary(6, 0, 0, 0));
    expect(existsSync(`${file}.rejected.csv`)).toBe(false);

    const rows = await stored(org.id);
    expect(rows).toHaveLength(6);
    const byKey = new Map(rows.map((r) => [r.legacy_user_id_key, r]));
    expect(byKey.get('bc-2b')).toMatchObject({
      legacy_user_id: 'BC-2b',
      first_name: 'José',
      last_name: 'Núñez García',
      email: 'bc-2b@example.com',
      email_key: 'bc-2b@example.com',
      mobile: null,
      hash_format: 'bcrypt',
    });
    expect(byKey.get('bc-2a')).toMatchObject({ mobile: '+393331234567', hash_format: 'bcrypt' });
    expect(byKey.get('bc-2y')).toMatchObject({ mobile: '+393337654321', hash_format: 'bcrypt' });
    expect(byKey.get('ar-id')).toMatchObject({
      email: 'Anna.Rossi@example.com',
      email_key: 'anna.rossi@example.com',
      hash_format: 'argon2',
    });
    expect(byKey.get('ar-i')).toMatchObject({ mobile: '+14155552671', hash_format: 'argon2' });
    expect(byKey.get('dj-1')).toMatchObject({ first_name: 'Zoë', last_name: "O'Brien", hash_format: 'pbkdf2_sha256' });
    for (const row of rows) {
      expect(row).toMatchObject({ organization_id: org.id, status: 'pending', user_id: null });
    }

    // The stored hash is byte-for-byte the legacy one, and still verifies the legacy password.
    for (const a of accounts) {
      const row = byKey.get(a.legacy_user_id.toLowerCase())!;
      expect(row.password_hash).toBe(a.password_hash);
      await expect(verifyLegacyHash(row.password_hash!, a.password)).resolves.toBe(true);
      await expect(verifyLegacyHash(row.password_hash!, `${a.password}!`)).resolves.toBe(false);
    }
  });

  it('is idempotent: the same file again changes nothing', async () => {
    const org = await newOrg();
    const accounts = [await account('same-1'), await account('same-2', { mobile: '+393331112222' }), await account('same-3')];
    const file = await writeCsv('same.csv', csv(accounts));
    expect((await importFile(file, org.slug)).last).toBe(summary(3, 0, 0, 0));
    const before = await stored(org.id);

    const again = await importFile(file, org.slug);
    expect(again.code).toBe(0);
    expect(again.last).toBe(summary(0, 0, 3, 0));
    expect(await stored(org.id)).toEqual(before); // not even updated_at moved
  });

  it('updates a pending account whose name, email, mobile or hash changed', async () => {
    const org = await newOrg();
    const original = [
      await account('chg-name'),
      await account('chg-email'),
      await account('chg-hash', { format: 'bcrypt-2b', password: 'old-password' }),
      await account('chg-mobile', { mobile: '+393331234567' }),
      await account('chg-case'),
      await account('chg-none'),
    ];
    const file = await writeCsv('v1.csv', csv(original));
    expect((await importFile(file, org.slug)).last).toBe(summary(6, 0, 0, 0));

    const changed = [
      { ...original[0]!, first_name: 'Annamaria' },
      { ...original[1]!, email: 'New.Address@Example.org' },
      await account('chg-hash', { format: 'argon2id', password: 'new-password' }),
      { ...original[3]!, mobile: '' },
      { ...original[4]!, legacy_user_id: 'CHG-CASE' },
      original[5]!,
    ];
    const file2 = await writeCsv('v2.csv', csv(changed));
    const run = await importFile(file2, org.slug);
    expect(run.code).toBe(0);
    expect(run.last).toBe(summary(0, 5, 1, 0));

    expect((await storedOne(org.id, 'chg-name')).first_name).toBe('Annamaria');
    expect(await storedOne(org.id, 'chg-email')).toMatchObject({
      email: 'New.Address@example.org',
      email_key: 'new.address@example.org',
    });
    const hashRow = await storedOne(org.id, 'chg-hash');
    expect(hashRow).toMatchObject({ hash_format: 'argon2', status: 'pending', password_hash: changed[2]!.password_hash });
    await expect(verifyLegacyHash(hashRow.password_hash!, 'new-password')).resolves.toBe(true);
    await expect(verifyLegacyHash(hashRow.password_hash!, 'old-password')).resolves.toBe(false);
    expect((await storedOne(org.id, 'chg-mobile')).mobile).toBeNull();
    expect((await storedOne(org.id, 'chg-case')).legacy_user_id).toBe('CHG-CASE');
    expect(await countAccounts(org.id)).toBe(6);
  });

  it('never changes an enrolled account, counts it unchanged and says so', async () => {
    const org = await newOrg();
    const enrolled = await account('enr-1', { format: 'bcrypt-2b', password: 'legacy-pass' });
    const pending = await account('enr-2');
    const file = await writeCsv('v1.csv', csv([enrolled, pending]));
    expect((await importFile(file, org.slug)).last).toBe(summary(2, 0, 0, 0));

    const [user] = await db.dataSource.query(
      `INSERT INTO users (organization_id, enterprise_id, enterprise_id_key, first_name, last_name, email, email_key,
                          password_hash, security_code_hash)
       VALUES ($1, 'arossi', 'arossi', 'Anna', 'Rossi', 'enr-1@example.com', 'enr-1@example.com', 'x', 'y') RETURNING id`,
      [org.id],
    );
    await db.dataSource.query(
      `UPDATE legacy_accounts SET status = 'enrolled', user_id = $1, enrolled_at = now() WHERE legacy_user_id_key = 'enr-1'`,
      [user.id],
    );
    const before = await storedOne(org.id, 'enr-1');

    const changed = [
      {
        ...enrolled,
        first_name: 'Hijacked',
        email: 'attacker@evil.example',
        mobile: '+393339999999',
        password_hash: await makeHash('bcrypt-2b', 'attacker-pass'),
      },
      pending,
      await account('enr-3'),
    ];
    const file2 = await writeCsv('v2.csv', csv(changed));
    const run = await importFile(file2, org.slug);
    expect(run.code).toBe(0);
    expect(run.out).toContain('1 row(s) belong to accounts already enrolled and were left unchanged');
    expect(run.last).toBe(summary(1, 0, 2, 0));

    const after = await storedOne(org.id, 'enr-1');
    expect(after).toEqual(before);
    expect(after).toMatchObject({ status: 'enrolled', user_id: user.id, first_name: 'Anna', email: 'enr-1@example.com' });
    await expect(verifyLegacyHash(after.password_hash!, 'attacker-pass')).resolves.toBe(false);

    // and the same file once more: still unchanged, still reported
    const again = await importFile(file2, org.slug);
    expect(again.last).toBe(summary(0, 0, 3, 0));
    expect(again.out).toContain('1 row(s) belong to accounts already enrolled and were left unchanged');
    const events = await auditEvents(org.id, 'legacy_import.completed');
    expect(events.at(-1)!.details).toMatchObject({ imported: 0, updated: 0, unchanged: 3, already_enrolled: 1, rejected: 0 });
  });

  it('refuses a legacy_user_id that belongs to another organization', async () => {
    const first = await newOrg();
    const second = await newOrg();
    const original = await account('shared-1');
    expect((await importFile(await writeCsv('a.csv', csv([original])), first.slug)).last).toBe(summary(1, 0, 0, 0));
    const before = await storedOne(first.id, 'shared-1');

    const file = await writeCsv('b.csv', csv([{ ...original, legacy_user_id: 'Shared-1', first_name: 'Other' }, await account('own-1')]));
    const run = await importFile(file, second.slug);
    expect(run.code).toBe(0);
    expect(run.last).toBe(summary(1, 0, 0, 1));
    const { rows } = await readRejected(file);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      legacy_user_id: 'Shared-1',
      line: '2',
      reason: 'legacy_user_id already belongs to another organization',
    });
    expect(await storedOne(first.id, 'shared-1')).toEqual(before);
    expect((await stored(second.id)).map((r) => r.legacy_user_id)).toEqual(['own-1']);
  });

  it('refuses a legacy_user_id already taken as someone’s Enterprise ID', async () => {
    const org = await newOrg();
    await db.dataSource.query(
      `INSERT INTO users (organization_id, enterprise_id, enterprise_id_key, first_name, last_name, email, email_key,
                          password_hash, security_code_hash)
       VALUES ($1, 'jdoe', 'jdoe', 'John', 'Doe', 'jdoe@example.com', 'jdoe@example.com', 'x', 'y')`,
      [org.id],
    );
    const file = await writeCsv('a.csv', csv([await account('JDoe'), await account('jdoe2')]));
    const run = await importFile(file, org.slug);
    expect(run.last).toBe(summary(1, 0, 0, 1));
    expect((await readRejected(file)).rows[0]).toMatchObject({
      legacy_user_id: 'JDoe',
      line: '2',
      reason: 'legacy_user_id is already in use as an Enterprise ID',
    });
  });
});

describe('import-legacy: rejected rows', () => {
  it('writes rejected rows with their original columns, line and reason, and imports the rest', async () => {
    const org = await newOrg();
    const good1 = await account('rej-good-1', { mobile: '+393331234567' });
    const good2 = await account('rej-good-2');
    const truncated = sharedBcrypt.slice(0, 40);
    const rows: Array<Record<string, string> | string[]> = [
      good1, // line 2
      { ...(await account('rej-mobile')), mobile: '3331234567' }, // 3
      { ...(await account('rej-prefix')), password_hash: '$md5$salt$abcdefabcdef' }, // 4
      good2, // 5
      { ...(await account('rej-trunc')), password_hash: truncated }, // 6
      { ...(await account('rej-good-1')), first_name: 'Second' }, // 7: duplicate of line 2
      { ...(await account('REJ-GOOD-2')), first_name: 'Third' }, // 8: duplicate of line 5, differing in case
      ['rej-short', sharedBcrypt, 'Short', 'Row', 'short@example.com'], // 9: 5 fields
      ['rej-long', sharedBcrypt, 'Long', 'Row', 'long@example.com', '', 'extra'], // 10: 7 fields
      { ...(await account('rej-email')), email: 'not-an-address' }, // 11
      { ...(await account('rej-name')), last_name: '   ' }, // 12
      { ...(await account('rej-id')), legacy_user_id: 'has space' }, // 13
    ];
    const file = await writeCsv('users.csv', csv(rows));

    const run = await importFile(file, org.slug);

    expect(run.code).toBe(0);
    expect(run.last).toBe(summary(2, 0, 0, 10));
    expect(run.out).toContain(`rejected rows written to ${file}.rejected.csv`);
    expect((await stored(org.id)).map((r) => [r.legacy_user_id, r.first_name])).toEqual([
      ['rej-good-1', 'Anna'],
      ['rej-good-2', 'Anna'],
    ]);

    const rejected = await readRejected(file);
    expect(rejected.header).toEqual([...HEADER, 'line', 'reason']);
    const byLine = new Map(rejected.rows.map((r) => [r.line, r]));
    expect([...byLine.keys()].sort((a, b) => Number(a) - Number(b))).toEqual(['3', '4', '6', '7', '8', '9', '10', '11', '12', '13']);
    expect(byLine.get('3')).toMatchObject({ legacy_user_id: 'rej-mobile', mobile: '3331234567' });
    expect(byLine.get('3')!.reason).toMatch(/^mobile must be in international E\.164 format/);
    expect(byLine.get('4')).toMatchObject({ password_hash: '$md5$salt$abcdefabcdef' });
    expect(byLine.get('4')!.reason).toMatch(/unknown format/);
    expect(byLine.get('6')).toMatchObject({ password_hash: truncated });
    expect(byLine.get('6')!.reason).toMatch(/not a complete bcrypt hash/);
    expect(byLine.get('7')).toMatchObject({
      legacy_user_id: 'rej-good-1',
      first_name: 'Second',
      reason: 'duplicate legacy_user_id in this file (first seen on line 2)',
    });
    expect(byLine.get('8')).toMatchObject({
      legacy_user_id: 'REJ-GOOD-2',
      reason: 'duplicate legacy_user_id in this file (first seen on line 5)',
    });
    // Rows with the wrong number of fields keep every original field, and line/reason stay in their columns.
    expect(byLine.get('9')).toMatchObject({
      legacy_user_id: 'rej-short',
      email: 'short@example.com',
      reason: 'row has 5 fields but the header has 6',
    });
    expect(byLine.get('10')).toMatchObject({
      legacy_user_id: 'rej-long',
      email: 'long@example.com',
      reason: 'row has 7 fields but the header has 6',
      extra: 'extra',
    });
    expect(byLine.get('11')!.reason).toBe('email is not a valid address');
    expect(byLine.get('12')!.reason).toBe('last_name is empty');
    expect(byLine.get('13')!.reason).toBe('legacy_user_id contains white space');

    // The rejected file holds password hashes: only the operator may read it.
    expect((await stat(`${file}.rejected.csv`)).mode & 0o077).toBe(0);
  });

  it('a later clean run removes a stale rejected-rows file', async () => {
    const org = await newOrg();
    const good = await account('stale-1');
    const bad = { ...(await account('stale-2')), mobile: '3331234567' };
    const file = await writeCsv('users.csv', csv([good, bad]));
    expect((await importFile(file, org.slug)).last).toBe(summary(1, 0, 0, 1));
    expect(existsSync(`${file}.rejected.csv`)).toBe(true);

    await writeFile(file, csv([good, { ...bad, mobile: '+393331234567' }]));
    const run = await importFile(file, org.slug);
    expect(run.last).toBe(summary(1, 0, 1, 0));
    expect(run.out.join('\n')).not.toMatch(/rejected rows written/);
    expect(existsSync(`${file}.rejected.csv`)).toBe(false);
    expect(await readdir(work)).toEqual(['users.csv']); // no partial files left behind either
  });

  it('writes a rejected file that, once corrected, imports again; control characters in it stay quoted', async () => {
    const org = await newOrg();
    const file = await writeCsv(
      'users.csv',
      csv([
        { ...(await account('fix-1')), mobile: '3331234567' },
        { ...(await account('fix-2')), first_name: 'Anna\rMaria' },
        { ...(await account('fix-3')), last_name: 'Rossi\r\nBianchi' },
        await account('fix-4'),
      ]),
    );
    expect((await importFile(file, org.slug)).last).toBe(summary(1, 0, 0, 3));
    const { rows } = await readRejected(file);
    expect(rows.map((r) => [r.legacy_user_id, r.line, r.first_name, r.last_name])).toEqual([
      ['fix-1', '2', 'Anna', 'Rossi'],
      ['fix-2', '3', 'Anna\rMaria', 'Rossi'],
      ['fix-3', '5', 'Anna', 'Rossi\r\nBianchi'], // the lone CR in line 3 is a line break too
    ]);

    const corrected = (await readFile(`${file}.rejected.csv`, 'utf8'))
      .replace('3331234567', '+393331234567')
      .replace('Anna\rMaria', 'Anna Maria')
      .replace('Rossi\r\nBianchi', 'Rossi Bianchi');
    const fixed = await writeCsv('fixed.csv', corrected);
    const run = await importFile(fixed, org.slug);
    expect(run.err).toEqual(['warning: ignoring unknown columns: line, reason']);
    expect(run.last).toBe(summary(3, 0, 0, 0));
    expect((await stored(org.id)).map((r) => [r.legacy_user_id, r.first_name, r.last_name, r.mobile])).toEqual([
      ['fix-1', 'Anna', 'Rossi', '+393331234567'],
      ['fix-2', 'Anna Maria', 'Rossi', null],
      ['fix-3', 'Anna', 'Rossi Bianchi', null],
      ['fix-4', 'Anna', 'Rossi', null],
    ]);
  });

  it('names a field longer than the limits and goes on (10 MB in one field)', async () => {
    const org = await newOrg();
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const file = await writeCsv(
      'huge.csv',
      csv([
        await account('big-1'),
        { ...(await account('big-2')), first_name: huge },
        { ...(await account('big-3')), password_hash: '$2b$04$' + huge },
        await account('big-4'),
      ]),
    );
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(0);
    expect(run.last).toBe(summary(2, 0, 0, 2));
    expect((await stored(org.id)).map((r) => r.legacy_user_id)).toEqual(['big-1', 'big-4']);
    const { rows } = await readRejected(file);
    expect(rows.map((r) => [r.line, r.reason])).toEqual([
      ['3', 'first_name is longer than 100 characters'],
      ['4', 'password_hash is too long'],
    ]);
    expect(rows[0]!.first_name).toHaveLength(huge.length); // nothing lost
    expect(run.err).toEqual([]);
  });

  it('rejects rows with NUL bytes in any field, without failing the import', async () => {
    const org = await newOrg();
    const djangoWithNul = (await makeHash('pbkdf2', 'x')).replace(/\$([^$]+)\$([^$]+)$/, (_m, salt: string, digest: string) => {
      return `$${salt.slice(0, 3)}\u0000${salt.slice(3)}$${digest}`;
    });
    const file = await writeCsv(
      'nul.csv',
      csv([
        { ...(await account('nul-name')), first_name: 'An\u0000na' }, // 2
        { ...(await account('nul-hash')), password_hash: djangoWithNul }, // 3
        { ...(await account('nul-mail')), email: 'nul\u0000@example.com' }, // 4
        { ...(await account('nul-\u0000id')) }, // 5
        { ...(await account('nul-mobile')), mobile: '+39333\u00001234567' }, // 6
        { ...(await account('nul-bcrypt')), password_hash: sharedBcrypt.slice(0, 20) + '\u0000' + sharedBcrypt.slice(21) }, // 7
        await account('nul-ok'), // 8
      ]),
    );
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(0);
    expect(run.last).toBe(summary(1, 0, 0, 6));
    expect((await stored(org.id)).map((r) => r.legacy_user_id)).toEqual(['nul-ok']);
    const { rows } = await readRejected(file);
    expect(rows.map((r) => r.line)).toEqual(['2', '3', '4', '5', '6', '7']);
    expect(rows[0]!.reason).toBe('first_name contains control or invisible characters');
    expect(rows[1]!.reason).toMatch(/^password_hash/);
    expect(rows[2]!.reason).toBe('email contains control or invisible characters');
    expect(rows[3]!.reason).toBe('legacy_user_id contains control or invisible characters');
    expect(rows[4]!.reason).toBe('mobile contains control or invisible characters');
    expect(rows[5]!.reason).toMatch(/^password_hash/);
    expect(rows[1]!.password_hash).toBe(djangoWithNul); // the original kept as is
  });

  it('rejects a mobile number in national format with a reason mentioning E.164', async () => {
    const org = await newOrg();
    const file = await writeCsv(
      'mobile.csv',
      csv([
        { ...(await account('mob-1')), mobile: '3331234567' },
        { ...(await account('mob-2')), mobile: '+39 333 123 4567' },
        { ...(await account('mob-3')), mobile: '' },
        { ...(await account('mob-4')), mobile: '+39 333' },
      ]),
    );
    const run = await importFile(file, org.slug);
    expect(run.last).toBe(summary(2, 0, 0, 2));
    const { rows } = await readRejected(file);
    expect(rows[0]).toMatchObject({ legacy_user_id: 'mob-1', line: '2' });
    expect(rows[0]!.reason).toMatch(/E\.164/);
    expect(rows[1]).toMatchObject({ legacy_user_id: 'mob-4', line: '5' });
    expect((await storedOne(org.id, 'mob-2')).mobile).toBe('+393331234567');
    expect((await storedOne(org.id, 'mob-3')).mobile).toBeNull();
  });
});

describe('import-legacy: file format', () => {
  async function variantRows(prefix: string): Promise<Array<Record<string, string>>> {
    return [
      await account(`${prefix}-1`, { first_name: 'Anna, Maria', last_name: 'Rossi "the first"' }),
      { ...(await account(`${prefix}-2`)), mobile: '3331234567' },
      await account(`${prefix}-3`, { email: 'josé@exämple.es', mobile: '+393331234567' }),
    ];
  }

  async function normalizedResult(org: { id: string }, file: string, prefix: string) {
    const rows = (await stored(org.id)).map((r) => ({
      ...r,
      organization_id: undefined,
      updated_at: undefined,
      legacy_user_id: r.legacy_user_id.replace(prefix, 'P'),
      legacy_user_id_key: r.legacy_user_id_key.replace(prefix, 'p'),
      email: r.email.replace(prefix, 'p'),
      email_key: r.email_key.replace(prefix, 'p'),
    }));
    const rejected = (await readRejected(file)).rows.map((r): Record<string, string> => ({
      ...r,
      legacy_user_id: r.legacy_user_id!.replace(prefix, 'P'),
      email: '',
    }));
    return { rows, rejected };
  }

  it('gives the same result for LF, CRLF, mixed line endings and a UTF-8 BOM', async () => {
    const results = [];
    for (const [prefix, make] of [
      ['lf', (text: string) => text],
      ['crlf', (text: string) => text.replace(/\n/g, '\r\n')],
      ['bom', (text: string) => '\ufeff' + text],
      ['bomcrlf', (text: string) => '\ufeff' + text.replace(/\n/g, '\r\n')],
      // a CRLF header with LF rows, and the other way round (files pasted together)
      ['mix1', (text: string) => text.replace('\n', '\r\n')],
      ['mix2', (text: string) => text.replace(/\n/g, '\r\n').replace('\r\n', '\n')],
      ['noeol', (text: string) => text.replace(/\n$/, '')],
      ['cr', (text: string) => text.replace(/\n/g, '\r')], // classic Mac
    ] as const) {
      const org = await newOrg();
      const file = await writeCsv(`${prefix}.csv`, make(csv(await variantRows(prefix))));
      const run = await importFile(file, org.slug);
      expect({ prefix, code: run.code, err: run.err, last: run.last }).toEqual({ prefix, code: 0, err: [], last: summary(2, 0, 0, 1) });
      results.push(await normalizedResult(org, file, prefix));
    }
    for (const result of results.slice(1)) expect(result).toEqual(results[0]);
    expect(results[0]!.rows.map((r) => [r.first_name, r.last_name])).toEqual([
      ['Anna, Maria', 'Rossi "the first"'],
      ['Anna', 'Rossi'],
    ]);
    expect(results[0]!.rejected).toHaveLength(1);
    expect(results[0]!.rejected[0]!.line).toBe('3');
  });

  it('fails on an empty file with a clear message (exit 1)', async () => {
    const org = await newOrg();
    const file = await writeCsv('empty.csv', '');
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(1);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(
      /^error: the file is empty: expected a header row \(legacy_user_id,password_hash,first_name,last_name,email/,
    );
    expect(run.out).toEqual([]);
  });

  it.each([
    ['blank lines', '\n\n\r\n'],
    ['a lone BOM', '\ufeff'],
  ])('fails on a file with only %s: no header row (exit 1)', async (_name, content) => {
    const org = await newOrg();
    const run = await importFile(await writeCsv('blank.csv', content), org.slug);
    expect(run.code).toBe(1);
    expect(run.err).toEqual(['error: the file has no header row']);
  });

  it('accepts a file with only a header: zeros and a warning (exit 0)', async () => {
    const org = await newOrg();
    const file = await writeCsv('header.csv', HEADER.join(',') + '\n');
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(0);
    expect(run.last).toBe(summary(0, 0, 0, 0));
    expect(run.err).toEqual(['warning: the file has a header but no data rows']);
    expect(await auditEvents(org.id, 'legacy_import.completed')).toHaveLength(1);
  });

  it('accepts the columns in any order, with any case, ignoring unknown columns with a warning', async () => {
    const org = await newOrg();
    const a = await account('cols-1', { mobile: '+393331234567' });
    const header = ['Email', 'department', 'LEGACY_USER_ID', 'last_name', ' first_name ', 'notes', 'password_hash', 'Mobile'];
    const file = await writeCsv(
      'cols.csv',
      csv(
        [
          [a.email, 'Sales', a.legacy_user_id, a.last_name, a.first_name, 'likes, commas', a.password_hash, a.mobile],
          ['b@example.com', '', 'cols-2', 'Bianchi', 'Bruno', '', sharedBcrypt, ''],
        ],
        { header },
      ),
    );
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(0);
    expect(run.err).toEqual(['warning: ignoring unknown columns: department, notes']);
    expect(run.last).toBe(summary(2, 0, 0, 0));
    expect(await storedOne(org.id, 'cols-1')).toMatchObject({
      email: 'cols-1@example.com',
      first_name: 'Anna',
      mobile: '+393331234567',
      password_hash: a.password_hash,
    });
    expect(await storedOne(org.id, 'cols-2')).toMatchObject({ first_name: 'Bruno', last_name: 'Bianchi', mobile: null });
  });

  it('works without the optional mobile column', async () => {
    const org = await newOrg();
    const header = HEADER.filter((c) => c !== 'mobile');
    const file = await writeCsv('nomobile.csv', csv([await account('nm-1')], { header }));
    const run = await importFile(file, org.slug);
    expect(run.last).toBe(summary(1, 0, 0, 0));
    expect((await storedOne(org.id, 'nm-1')).mobile).toBeNull();
  });

  it('refuses a header naming a column twice (exit 1, naming it) and imports nothing', async () => {
    const org = await newOrg();
    const header = [...HEADER, 'Email'];
    const a = await account('dh-1');
    const file = await writeCsv('dup.csv', csv([[...HEADER.map((c) => a[c as keyof Account]), 'x@example.com']], { header }));
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(1);
    expect(run.err).toEqual(['error: line 1: column "Email" appears more than once in the header']);
    expect(await countAccounts(org.id)).toBe(0);
  });

  it('refuses a header missing a required column (exit 1, naming it)', async () => {
    const org = await newOrg();
    const header = HEADER.filter((c) => c !== 'email' && c !== 'password_hash');
    const file = await writeCsv('missing.csv', csv([['mc-1', 'Anna', 'Rossi', '']], { header }));
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(1);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(/^error: line 1: the header is missing required columns password_hash, email/);
    expect(await countAccounts(org.id)).toBe(0);
  });

  it('normalizes emails consistently: two spellings of one address give one key', async () => {
    const org = await newOrg();
    const file = await writeCsv(
      'emails.csv',
      csv([
        await account('em-1', { email: 'Anna.Rossi@Example.COM' }),
        await account('em-2', { email: 'anna.rossi@example.com' }),
        await account('em-3', { email: 'josé@exämple.es' }),
        await account('em-4', { email: 'JOSE\u0301@EXÄMPLE.ES' }),
        await account('em-5', { email: 'jose\u0301@xn--exmple-cua.es' }),
      ]),
    );
    const run = await importFile(file, org.slug);
    expect(run.last).toBe(summary(5, 0, 0, 0));
    const rows = await stored(org.id);
    expect(rows.map((r) => [r.legacy_user_id, r.email, r.email_key])).toEqual([
      ['em-1', 'Anna.Rossi@example.com', 'anna.rossi@example.com'],
      ['em-2', 'anna.rossi@example.com', 'anna.rossi@example.com'],
      ['em-3', 'josé@exämple.es', 'josé@xn--exmple-cua.es'],
      ['em-4', 'JOSÉ@exämple.es', 'josé@xn--exmple-cua.es'],
      ['em-5', 'josé@xn--exmple-cua.es', 'josé@xn--exmple-cua.es'],
    ]);
    // stored NFC, whatever the file used
    for (const r of rows) expect(r.email).toBe(r.email.normalize('NFC'));
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('fails on bytes that are not UTF-8 (exit 1, naming the line) and imports nothing (%s)', async (_name, eol) => {
    const org = await newOrg();
    const text = csv(
      [await account('enc-1'), { ...(await account('enc-2')), mobile: 'bad' }, await account('enc-3'), await account('enc-4')],
      { eol },
    );
    const bytes = Buffer.from(text.replace('enc-4,', 'enc-4,\u0001'), 'utf8');
    bytes[bytes.indexOf(0x01)] = 0xe9; // Latin-1 é on line 5
    const file = await writeCsv('latin1.csv', bytes);

    const run = await importFile(file, org.slug, '--batch-size', '1');

    expect(run.code).toBe(1);
    expect(run.err).toEqual(['error: line 5: the file is not valid UTF-8; save it as UTF-8 and import it again']);
    expect(run.out).toEqual([]);
    expect(await countAccounts(org.id)).toBe(0);
    expect(existsSync(`${file}.rejected.csv`)).toBe(false);
    expect(await readdir(work)).toEqual(['latin1.csv']);
    expect(await auditEvents(org.id, 'legacy_import.completed')).toHaveLength(0);
    const failed = await auditEvents(org.id, 'legacy_import.failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.details).toMatchObject({ file: 'latin1.csv', reason: expect.stringMatching(/line 5/) });
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('numbers rejected rows by the line they start on, after multi-line quoted fields (%s)', async (name, eol) => {
    const org = await newOrg();
    // every newline, also the one inside the quoted first name, becomes `eol`
    const text = csv([
      await account(`${name}-ml-1`), // line 2
      { ...(await account(`${name}-ml-2`)), first_name: 'Anna\nMaria' }, // lines 3-4
      { ...(await account(`${name}-ml-3`)), mobile: '3331234567' }, // line 5, after two empty lines 7
      await account(`${name}-ml-4`), // 8
    ])
      .replace(`${name}-ml-3,`, `\n\n${name}-ml-3,`)
      .replace(/\n/g, eol);
    expect(text).toContain(`"Anna${eol}Maria"`);
    const file = await writeCsv('multiline.csv', text);
    const run = await importFile(file, org.slug);
    expect(run.last).toBe(summary(2, 0, 0, 2));
    const { rows } = await readRejected(file);
    expect(rows.map((r) => [r.legacy_user_id, r.line, r.reason])).toEqual([
      [`${name}-ml-2`, '3', 'first_name contains control or invisible characters'],
      [`${name}-ml-3`, '7', expect.stringMatching(/E\.164/)],
    ]);
    expect(rows[0]!.first_name).toBe(`Anna${eol}Maria`);
  });

  it('stops at a record over the size limit, naming the line where it starts, and imports nothing', async () => {
    const org = await newOrg();
    const clock = new SystemClock();
    const audit = new AuditService(db.dataSource, clock);
    const importer = new LegacyImporter(db.dataSource, new OrganizationService(db.dataSource, audit), new LegacyAccountStore(), audit);
    const text = csv([await account('max-1'), await account('max-2', { last_name: 'y'.repeat(5000) }), await account('max-3')]);
    const file = await writeCsv('max.csv', text);
    await expect(
      importer.importFile(file, org.slug, { actor: { type: 'operator', id: 'test' }, maxRecordBytes: 1000, batchSize: 1 }),
    ).rejects.toThrow(/^line 3: a record is larger than the limit/);
    expect(await countAccounts(org.id)).toBe(0);
    // the same file with the default limit is fine
    await expect(importer.importFile(file, org.slug, { actor: { type: 'operator', id: 'test' } })).resolves.toMatchObject({
      imported: 2,
      rejected: 1,
    });
  });

  it('names the right line for bad UTF-8 far into a large file, across read-chunk boundaries', async () => {
    const org = await newOrg();
    // Rows until just before the first 64 KiB read chunk ends, then a row whose 'é' straddles the boundary.
    const row = (id: string, first: string) => `${id},${sharedBcrypt},${first},Rossi,${id}@example.com,`;
    const lines = [HEADER.join(',')];
    let size = Buffer.byteLength(lines[0]! + '\n');
    let n = 0;
    const push = (line: string) => {
      lines.push(line);
      size += Buffer.byteLength(line + '\n');
      n++;
    };
    const roomBeforeBoundary = () => 65535 - size - Buffer.byteLength(`ch-${n},${sharedBcrypt},`);
    while (roomBeforeBoundary() > 300) push(row(`ch-${n}`, 'Anna'));
    // one filler row sized so that the next row's first name can reach the boundary (< 100 characters)
    const base = Buffer.byteLength(row(`ch-${n}`, '') + '\n');
    push(row(`ch-${n}`, 'B'.repeat(roomBeforeBoundary() - base - 50)));
    const room = roomBeforeBoundary();
    expect(room).toBeGreaterThanOrEqual(40);
    expect(room).toBeLessThan(60);
    push(row(`ch-${n}`, 'A'.repeat(room) + 'é'));
    const boundaryLine = lines.length; // 1-based line number of the straddling row
    for (let i = 0; i < 5; i++) lines.push(row(`ch-${n++}`, 'Anna'));
    lines.push(row(`ch-${n++}`, 'Jos\u0001'));
    const badLine = lines.length;
    for (let i = 0; i < 5; i++) lines.push(row(`ch-${n++}`, 'Anna'));
    const bytes = Buffer.from(lines.join('\n') + '\n', 'utf8');
    expect(bytes.subarray(65535, 65537)).toEqual(Buffer.from('é'));
    bytes[bytes.indexOf(0x01)] = 0xe9;
    const file = await writeCsv('big-latin1.csv', bytes);

    const run = await importFile(file, org.slug, '--batch-size', '50');

    expect(badLine).toBe(boundaryLine + 6);
    expect(run.code).toBe(1);
    expect(run.err).toEqual([`error: line ${badLine}: the file is not valid UTF-8; save it as UTF-8 and import it again`]);
    expect(await countAccounts(org.id)).toBe(0);
  });

  it('fails on a UTF-16 file, saying so (exit 1)', async () => {
    const org = await newOrg();
    const file = await writeCsv('utf16.csv', Buffer.from('\ufeff' + csv([await account('u16-1')]), 'utf16le'));
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(1);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(/^error: line 1: the file is not valid UTF-8 \(it looks like UTF-16\)/);
    expect(await countAccounts(org.id)).toBe(0);
  });

  it.each([
    ['an unclosed quote', (line: string) => `"${line}`, 4, /never closed|not closed/i],
    ['a quote in the middle of an unquoted field', (line: string) => line.replace('Anna', 'An"na'), 4, /bad quoting/],
    ['text after a closing quote', (line: string) => line.replace('Anna', '"Anna"x'), 4, /bad quoting/],
  ])('fails on %s (exit 1, naming the line) and imports nothing', async (_name, damage, badLine, message) => {
    const org = await newOrg();
    const good = [await account('q-1'), await account('q-2'), await account('q-3'), await account('q-4'), await account('q-5')];
    const lines = csv(good).split('\n');
    lines[badLine - 1] = damage(lines[badLine - 1]!);
    const file = await writeCsv('quotes.csv', lines.join('\n'));

    const run = await importFile(file, org.slug, '--batch-size', '1');

    expect(run.code).toBe(1);
    expect(run.err).toHaveLength(1);
    expect(run.err[0]).toMatch(new RegExp(`^error: line ${badLine}: bad quoting`));
    expect(run.err[0]).toMatch(message);
    expect(run.out).toEqual([]);
    expect(await countAccounts(org.id)).toBe(0);
    expect(await auditEvents(org.id, 'legacy_import.completed')).toHaveLength(0);
    expect(existsSync(`${file}.rejected.csv`)).toBe(false);
  });

  it('does not quote a damaged password hash back in the error or the audit log', async () => {
    const org = await newOrg();
    const hash = await makeHash('bcrypt-2b', 'quoted-secret');
    const text = csv([await account('qh-1'), { ...(await account('qh-2')), password_hash: hash }]).replace(
      hash,
      hash.slice(0, 30) + '"' + hash.slice(30),
    );
    const file = await writeCsv('quoted-hash.csv', text);
    const run = await importFile(file, org.slug);
    expect(run.code).toBe(1);
    expect(run.err[0]).toMatch(/^error: line 3: bad quoting/);
    const printed = [...run.out, ...run.err].join('\n');
    expect(printed).not.toContain(hash.slice(7, 30));
    const failed = await auditEvents(org.id, 'legacy_import.failed');
    expect(failed).toHaveLength(1);
    expect(JSON.stringify(failed[0]!.details)).not.toContain(hash.slice(7, 30));
  });
});

describe('import-legacy: audit', () => {
  it('records exactly one legacy_import.completed event per run, with the counts', async () => {
    const org = await newOrg();
    const good = [await account('au-1'), await account('au-2')];
    const bad = { ...(await account('au-3')), mobile: '3331234567' };
    const file = await writeCsv('audit.csv', csv([...good, bad]));
    expect((await importFile(file, org.slug)).last).toBe(summary(2, 0, 0, 1));
    expect((await importFile(file, org.slug)).last).toBe(summary(0, 0, 2, 1));
    await writeFile(file, csv([{ ...good[0]!, first_name: 'Changed' }, good[1]!, { ...bad, mobile: '' }]));
    expect((await importFile(file, org.slug)).last).toBe(summary(1, 1, 1, 0));

    const events = await db.dataSource.query(
      `SELECT event_type, actor_type, subject_type, subject_id, details FROM audit_events
        WHERE organization_id = $1 AND event_type LIKE 'legacy_import.%' ORDER BY id`,
      [org.id],
    );
    expect(events).toHaveLength(3);
    const base = { event_type: 'legacy_import.completed', actor_type: 'operator', subject_type: 'organization', subject_id: org.id };
    expect(events[0]).toMatchObject({
      ...base,
      details: { file: 'audit.csv', imported: 2, updated: 0, unchanged: 0, already_enrolled: 0, rejected: 1 },
    });
    expect(events[1]).toMatchObject({ ...base, details: { imported: 0, updated: 0, unchanged: 2, already_enrolled: 0, rejected: 1 } });
    expect(events[2]).toMatchObject({ ...base, details: { imported: 1, updated: 1, unchanged: 1, already_enrolled: 0, rejected: 0 } });
  });
});

describe('import-legacy: concurrency', () => {
  it('two concurrent imports of one file are serialized: one imports, the other finds the rows unchanged', async () => {
    const org = await newOrg();
    const accounts = [];
    for (let i = 0; i < 60; i++) accounts.push(await account(`cc-${i}`));
    const file = await writeCsv('concurrent.csv', csv(accounts));

    const runs = await Promise.all([importFile(file, org.slug, '--batch-size', '10'), importFile(file, org.slug, '--batch-size', '10')]);

    for (const run of runs) {
      expect({ code: run.code, err: run.err }).toEqual({ code: 0, err: [] });
      const counts = /^imported=(\d+) updated=(\d+) unchanged=(\d+) rejected=(\d+)$/.exec(run.last ?? '');
      expect(counts).not.toBeNull();
      const [imported, updated, unchanged, rejected] = counts!.slice(1).map(Number) as [number, number, number, number];
      expect(updated).toBe(0);
      expect(imported + unchanged + rejected).toBe(60);
    }
    // Imports into one organization are serialized: one run imports everything, the other finds it unchanged.
    expect(runs.map((r) => r.last).sort()).toEqual([summary(0, 0, 60, 0), summary(60, 0, 0, 0)]);

    const [{ total, distinct }] = await db.dataSource.query(
      `SELECT count(*)::int AS total, count(DISTINCT legacy_user_id_key)::int AS distinct FROM legacy_accounts WHERE organization_id = $1`,
      [org.id],
    );
    expect({ total, distinct }).toEqual({ total: 60, distinct: 60 });
    expect((await readdir(work)).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(await auditEvents(org.id, 'legacy_import.completed')).toHaveLength(2);

    // and afterwards the file is simply unchanged
    expect((await importFile(file, org.slug)).last).toBe(summary(0, 0, 60, 0));
  });
});

describe('secrets', () => {
  it('never prints a password hash, nor records one in the audit log', async () => {
    expect(fixtureHashes.size).toBeGreaterThan(10);
    expect(transcript.length).toBeGreaterThan(50);
    const printed = transcript.join('\n');
    const details = (await db.dataSource.query<Array<{ details: unknown }>>(`SELECT details FROM audit_events`)).map((r) =>
      JSON.stringify(r.details),
    );
    const audit = details.join('\n');
    expect(audit).toMatch(/legacy_import\.|imported/);
    for (const hash of fixtureHashes) {
      // the distinctive tail of the hash (salt and digest), not just its format prefix
      const tail = hash.slice(-24);
      expect(printed).not.toContain(tail);
      expect(audit).not.toContain(tail);
    }
  });
});
