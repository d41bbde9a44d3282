import { Injectable } from '@nestjs/common';
import { parse, type CsvError } from 'csv-parse';
import { stringify } from 'csv-stringify';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DataSource } from 'typeorm';
import { AuditService, type AuditEventInput } from '#libs/audit';
import { DomainError } from '#libs/core';
import { LegacyAccountStore, OrganizationService, lockLegacyImportOf, type LegacyAccountInput } from '#libs/identity';
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

/**
 * Writes rejected rows, with the original columns plus `line` and `reason`, creating the file on first use.
 * A row with too few fields is padded, and one with too many keeps its extra fields after `reason`, so
 * `line` and `reason` always stay in their columns.
 */
class RejectedWriter {
  private stream: ReturnType<typeof stringify> | null = null;
  private out: WriteStream | null = null;
  private width = 0;
  count = 0;
  /** Unique per run: concurrent imports of one file must not write, rename or delete each other's file. */
  private readonly temporary: string;

  constructor(
    private readonly target: string,
    private readonly header: () => string[],
  ) {
    this.temporary = `${target}.${process.pid}-${randomBytes(4).toString('hex')}.partial`;
  }

  async write(fields: string[], line: number, reason: string): Promise<void> {
    if (!this.stream) {
      this.out = createWriteStream(this.temporary, { mode: 0o600 });
      // csv-stringify quotes fields with a line feed but not with a lone carriage return; any line break must be quoted.
      this.stream = stringify({ bom: false, record_delimiter: '\n', quoted_match: /\r/ });
      this.stream.pipe(this.out);
      const names = this.header().map((n) => (n.toLowerCase() === 'line' || n.toLowerCase() === 'reason' ? `original_${n}` : n));
      this.width = names.length;
      this.stream.write([...names, 'line', 'reason']);
    }
    this.count++;
    const columns = fields.slice(0, this.width);
    while (columns.length < this.width) columns.push('');
    if (!this.stream.write([...columns, String(line), reason, ...fields.slice(this.width)])) {
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
        // One import per organization at a time: a concurrent run of the same file then sees
        // the first one's rows as unchanged instead of racing it.
        await lockLegacyImportOf(manager, organization.id);
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

        // Lines are counted as the parser reads (on_record runs in step with it), so a parse
        // error can name the line even while rows before it still wait to be processed.
        const lines = new LineTracker();
        const startLines: number[] = [];
        const parser = parse({
          relax_column_count: true,
          skip_empty_lines: true,
          // Any of CRLF, LF or a lone CR ends a record, also when one file mixes them.
          record_delimiter: ['\r\n', '\n', '\r'],
          max_record_size: options.maxRecordBytes ?? DEFAULT_MAX_RECORD,
          on_record: (record, info) => {
            startLines.push(lines.startOf(record, info));
            return record;
          },
        });
        const source = createReadStream(file);
        const reading = pipeline(source, new StrictUtf8Decoder(), parser);
        try {
          for await (const record of parser as AsyncIterable<string[]>) {
            const line = startLines.shift() ?? 0;
            if (!header) {
              header = readHeader(record);
              if (header.unknown.length > 0)
                summary.warnings.push(`ignoring unknown column${header.unknown.length > 1 ? 's' : ''}: ${header.unknown.join(', ')}`);
              continue;
            }
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
          throw describeParseError(error, lines);
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

interface ParserInfo {
  /** The line the record ends on, as csv-parse counts (a CRLF inside a quoted field counts twice). */
  lines: number;
  /** Empty lines skipped so far. */
  empty_lines: number;
}

/** Turns csv-parse's counts into the line where each record starts, as an editor numbers lines. */
class LineTracker {
  private end = 0;
  private empty = 0;
  /** Lines csv-parse counted twice: CRLFs inside quoted fields. */
  private extra = 0;

  startOf(record: string[], info: ParserInfo): number {
    const start = this.nextStart(info.empty_lines);
    for (const field of record) for (let i = field.indexOf('\r\n'); i !== -1; i = field.indexOf('\r\n', i + 2)) this.extra++;
    this.end = info.lines - this.extra;
    this.empty = info.empty_lines;
    return start;
  }

  /** Where the record after the last complete one starts. */
  nextStart(emptyLines: number | undefined): number {
    return this.end + 1 + Math.max(0, (emptyLines ?? this.empty) - this.empty);
  }

  /** csv-parse's line number for a position inside the current record, corrected. */
  current(lines: number | undefined): number | string {
    return lines === undefined ? '?' : Math.max(this.nextStart(undefined), lines - this.extra);
  }
}

/** An error in reading the CSV, as one line naming where. Field values are never quoted: they may be hashes. */
function describeParseError(error: unknown, lines: LineTracker): Error {
  if (error instanceof ImportFileError || error instanceof DomainError) return error;
  const csv = error as Partial<CsvError> & { lines?: number; empty_lines?: number; column?: number | string };
  if (csv && typeof csv.code === 'string' && (csv.code.startsWith('CSV_') || csv.code === 'INVALID_OPENING_QUOTE')) {
    const field = typeof csv.column === 'number' ? ` (field ${csv.column + 1})` : '';
    const code: string = csv.code;
    switch (code) {
      case 'CSV_MAX_RECORD_SIZE':
        return new ImportFileError(
          `line ${lines.nextStart(csv.empty_lines)}: a record is larger than the limit; check for an unclosed quote or an oversized field`,
        );
      case 'CSV_QUOTE_NOT_CLOSED':
        return new ImportFileError(
          `line ${lines.nextStart(csv.empty_lines)}: bad quoting: a quoted field starting on this line is never closed`,
        );
      case 'INVALID_OPENING_QUOTE':
        return new ImportFileError(
          `line ${lines.current(csv.lines)}: bad quoting: a quote inside an unquoted field${field}; quote the whole field and double any quote inside it`,
        );
      case 'CSV_INVALID_CLOSING_QUOTE':
      case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
        return new ImportFileError(`line ${lines.current(csv.lines)}: bad quoting: text after a closing quote${field}`);
      default:
        return new ImportFileError(`line ${lines.current(csv.lines)}: the file cannot be read as CSV (${code})`);
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}
