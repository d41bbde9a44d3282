import { runCli } from '../../apps/cli/src/cli.js';

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/** Runs one operator CLI command in-process against a test database, capturing its output. */
export async function runCliAgainst(databaseUrl: string, dataDir: string, ...argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    argv,
    { out: (line) => out.push(line), err: (line) => err.push(line) },
    { ...process.env, DATABASE_URL: databaseUrl, DATA_DIR: dataDir, LOG_LEVEL: 'info', NODE_ENV: 'test' },
  );
  return { code, out, err };
}
