import { Injectable } from '@nestjs/common';
import { parse, type CsvError } from 'csv-parse';
import { stringify } from 'csv-stringify';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataSource } from 'typeorm';
import { AuditService, type AuditEventInput } from '../../audit/src/index.js';
import { DomainError } from '../../core/src/index.js';
import { LegacyAccountStore, OrganizationService, type LegacyAccountInput } from '../../identity/src/index.js';
import { readHeader, readRow, type HeaderMap } from './rows.js';
import { ImportFileError, StrictUtf8Decoder } from './utf8-decoder.js';

export interface ImportSummary {
  imported: number;
  updated: number;
  /** Rows equal to what is stored, plus rows of accounts already enrolled (never changed). */
  unchanged: number;
  rejected: number;
  /** Of `unchanged`, how many belong to accounts already enrolled. */
  alreadyEnrolled: number;
  warnings: string[];
  /** Path of the rejected-rows file, when any row was rejected. */
  rejectedFile: string | null;
}

export interface ImportOptions {
  actor: AuditEventInput['actor'];
  batchSize?: number;
  /** Largest accepted record; a larger one stops the import (default 32 MiB). */
  maxRecordBytes?: number;
}

const DEFAULT_BATCH = 1000;
const DEFAULT_MAX_RECORD = 32 * 1024 * 1024;

/** Writes rejected rows, with the original columns plus `line` and `reason`, creating the file on first use. */
class RejectedWriter {
  private stream: ReturnType<typeof stringify> | null = null;
  private out: WriteStream | null = null;
  count = 0;

  constructor(
    private readonly target: string,
    private readonly header: () => string[],
  ) {}

  get temporary(): string {
    return `${this.target}.partial`;
  }

  async write(fields: string[], line: number, reason: string): Promise<void> {
    if (!this.stream) {
      this.out = createWriteStream(this.temporary, { mode: 0o600 });
      this.stream = stringify({ bom: false, record_delimiter: '\n' });
      this.stream.pipe(this.out);
      const names = this.header().map((n) => (n.toLowerCase() === 'line' || n.toLowerCase() === 'reason' ? `original_${n}` : n));
      this.stream.write([...names, 'line', 'reason']);
    }
    this.count++;
    if (!this.stream.write([...fields, String(line), reason])) {
      await new Promise<void>((resolve) => this.stream?.once('drain', () => resolve()));
    }
  }

  async finish(commit: boolean): Promise<string | null> {
    if (this.stream && this.out) {
      const closed = new Promise<void>((resolve, reject) => {
        this.out?.once('close', () => resolve());
        this.out?.once('error', reject);
      });
      this.stream.end();
      await closed;
    }
    if (commit && this.count > 0) {
      await rename(this.temporary, this.target);
      return this.target;
    }
    await rm(this.temporary, { force: true });
    if (commit) await rm(this.target, { force: true }); // no rejections: drop a stale file from an earlier run
    return null;
  }
}

/**
 * Imports a legacy-accounts CSV into one organization. The file is streamed, never
 * read whole. The whole import is one transaction: a file that cannot be read to the
 * end (bad quoting, bad encoding, a record over the size limit) changes nothing.
 * Row problems reject just that row, into `<file>.rejected.csv`.
 */
@Injectable()
export class LegacyImporter {
  constructor(
    private readonly dataSource: DataSource,
    private readonly organizations: OrganizationService,
    private readonly store: LegacyAccountStore,
    private readonly audit: AuditService,
  ) {}

  async importFile(file: string, organizationSlug: string, options: ImportOptions): Promise<ImportSummary> {
    const organization = await this.organizations.findBySlug(organizationSlug);
    if (!organization)
      throw new DomainError('organization_not_found', `organization "${organizationSlug}" does not exist (create it with org:create)`);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) throw new DomainError('file_not_found', `cannot read ${file}: no such file`);
    if (info.size === 0)
      throw new ImportFileError(
        'the file is empty: expected a header row (legacy_user_id,password_hash,first_name,last_name,email[,mobile])',
      );

    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const summary: ImportSummary = {
      imported: 0,
      updated: 0,
      unchanged: 0,
      rejected: 0,
      alreadyEnrolled: 0,
      warnings: [],
      rejectedFile: null,
    };
    let header: HeaderMap | null = null;
    const rejected = new RejectedWriter(`${file}.rejected.csv`, () => header?.names ?? []);
    const firstLineOf = new Map<string, number>();

    try {
      await this.dataSource.transaction(async (manager) => {
        let batch: Array<{ account: LegacyAccountInput; fields: string[]; line: number }> = [];
        const flush = async () => {
          const outcomes = await this.store.upsertBatch(
            manager,
            organization.id,
            batch.map((b) => b.account),
          );
          for (const [i, outcome] of outcomes.entries()) {
            const item = batch[i]!;
            switch (outcome.kind) {
              case 'imported':
                summary.imported++;
                break;
              case 'updated':
                summary.updated++;
                break;
              case 'unchanged':
                summary.unchanged++;
                break;
              case 'enrolled':
                summary.unchanged++;
                summary.alreadyEnrolled++;
                break;
              case 'rejected':
                summary.rejected++;
                await rejected.write(item.fields, item.line, outcome.reason);
                break;
            }
          }
          batch = [];
        };

        const parser = parse({
          info: true,
          relax_column_count: true,
          skip_empty_lines: true,
          max_record_size: options.maxRecordBytes ?? DEFAULT_MAX_RECORD,
        });
        const source = createReadStream(file);
        const reading = pipeline(source, new StrictUtf8Decoder(), parser);
        try {
          for await (const { record, info: position } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
            if (!header) {
              header = readHeader(record);
              if (header.unknown.length > 0)
                summary.warnings.push(`ignoring unknown column${header.unknown.length > 1 ? 's' : ''}: ${header.unknown.join(', ')}`);
              continue;
            }
            const line = position.lines;
            const row = readRow(header, record);
            if (!row.ok) {
              summary.rejected++;
              await rejected.write(record, line, row.reason);
              continue;
            }
            const first = firstLineOf.get(row.account.legacyUserIdKey);
            if (first !== undefined) {
              summary.rejected++;
              await rejected.write(record, line, `duplicate legacy_user_id in this file (first seen on line ${first})`);
              continue;
            }
            firstLineOf.set(row.account.legacyUserIdKey, line);
            batch.push({ account: row.account, fields: record, line });
            if (batch.length >= batchSize) await flush();
          }
          await reading;
        } catch (error) {
          source.destroy();
          await reading.catch(() => undefined);
          throw describeParseError(error);
        }
        if (!header) throw new ImportFileError('the file has no header row');
        await flush();
        if (summary.imported + summary.updated + summary.unchanged + summary.rejected === 0) {
          summary.warnings.push('the file has a header but no data rows');
        }
        await this.audit.record(
          {
            type: 'legacy_import.completed',
            actor: options.actor,
            subject: { type: 'organization', id: organization.id },
            organizationId: organization.id,
            details: {
              file: path.basename(file),
              imported: summary.imported,
              updated: summary.updated,
              unchanged: summary.unchanged,
              already_enrolled: summary.alreadyEnrolled,
              rejected: summary.rejected,
            },
          },
          manager,
        );
      });
    } catch (error) {
      await rejected.finish(false);
      await this.audit
        .record({
          type: 'legacy_import.failed',
          actor: options.actor,
          subject: { type: 'organization', id: organization.id },
          organizationId: organization.id,
          details: { file: path.basename(file), reason: error instanceof Error ? error.message.slice(0, 500) : 'unknown' },
        })
        .catch(() => undefined);
      throw error;
    }
    summary.rejectedFile = await rejected.finish(true);
    return summary;
  }
}

function describeParseError(error: unknown): Error {
  if (error instanceof ImportFileError || error instanceof DomainError) return error;
  const csv = error as Partial<CsvError> & { lines?: number };
  if (csv && typeof csv.code === 'string' && csv.code.startsWith('CSV_')) {
    const line = csv.lines ?? '?';
    if (csv.code === 'CSV_MAX_RECORD_SIZE') {
      return new ImportFileError(`line ${line}: a record is larger than the limit; check for an unclosed quote or an oversized field`);
    }
    const quoting = new Set<string>([
      'CSV_INVALID_CLOSING_QUOTE',
      'CSV_QUOTE_NOT_CLOSED',
      'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE',
      'INVALID_OPENING_QUOTE',
    ]);
    if (quoting.has(csv.code)) return new ImportFileError(`line ${line}: bad quoting (${csv.message ?? csv.code})`);
    return new ImportFileError(`line ${line}: ${csv.message ?? csv.code}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}
