import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { inChainSnapshot, type ChainReader } from './audit.queries.js';

/**
 * The audit log's hash chain. The database computes it on insert (trigger
 * `audit_events_chain`, migration 1763820000000-AuditChain); this file recomputes it
 * independently from the stored values, so a row edited, deleted or inserted behind the
 * trigger's back (by a superuser, with the triggers disabled) is found.
 *
 * Canonical form, version `gatehouse.audit.v1`: a compact JSON array (no whitespace) of
 *   ["gatehouse.audit.v1", id, seq, occurred_at, event_type, actor_type, actor_id,
 *    subject_type, subject_id, organization_id, ip, user_agent, request_id, details, prev_hash]
 * - id, seq: JSON integers (decimal digits).
 * - occurred_at: a JSON string, UTC, microsecond precision: `2026-05-01T10:00:00.000000Z`.
 * - text columns: JSON strings (only `"`, `\`, and control characters escaped: `\b \f \n
 *   \r \t`, others as lower-case `\u00XX`; non-ASCII as is), `null` when NULL.
 * - organization_id: lower-case UUID text; ip: PostgreSQL's inet text (`203.0.113.9`,
 *   `2001:db8::1`, a `/n` suffix only for a network).
 * - details: canonical JSON: objects with their keys sorted in UTF-8 byte order, arrays in
 *   order, no whitespace, strings escaped as above, numbers as PostgreSQL's jsonb prints them.
 * - prev_hash: the previous row's `hash` (64 lower-case hex digits), 64 zeros for seq 1.
 * hash = lower-case hex SHA-256 of the UTF-8 bytes of that text.
 */
export const CHAIN_VERSION = 'gatehouse.audit.v1';
export const GENESIS_HASH = '0'.repeat(64);

/** One audit row as the verifier reads it: every value as PostgreSQL prints it. */
export interface ChainRow {
  id: string;
  seq: string;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` */
  occurredAt: string;
  eventType: string;
  actorType: string;
  actorId: string | null;
  subjectType: string | null;
  subjectId: string | null;
  organizationId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  /** jsonb text */
  details: string;
  prevHash: string;
  hash: string;
}

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * Canonical JSON of a JSON text. Numbers keep their written form (JSON.parse would turn
 * jsonb's `1.0` into `1` and lose digits of large integers).
 */
export function canonicalJson(text: string): string {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`invalid JSON at offset ${i}: ${what}`);
  };
  const string = (): string => {
    // JSON.parse refuses raw control characters inside the string.
    const match = /^"(?:[^"\\]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/u.exec(text.slice(i));
    if (!match) return fail('string expected');
    i += match[0].length;
    return JSON.parse(match[0]) as string;
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries: Array<[string, string]> = [];
      ws();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          ws();
          const key = string();
          ws();
          if (text[i++] !== ':') fail('":" expected');
          entries.push([key, value()]);
          ws();
          const next = text[i++];
          if (next === '}') break;
          if (next !== ',') fail('"," or "}" expected');
        }
      }
      entries.sort(([a], [b]) => byUtf8(a, b));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') i++;
      else {
        for (;;) {
          items.push(value());
          ws();
          const next = text[i++];
          if (next === ']') break;
          if (next !== ',') fail('"," or "]" expected');
        }
      }
      return `[${items.join(',')}]`;
    }
    if (c === '"') return JSON.stringify(string());
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/u.exec(text.slice(i));
    if (!literal) return fail('value expected');
    i += literal[0].length;
    return literal[0];
  };
  const result = value();
  ws();
  if (i !== text.length) fail('end expected');
  return result;
}

const str = (value: string | null) => (value === null ? 'null' : JSON.stringify(value));

/** The canonical text of one row (see the top of this file). */
export function canonicalEventText(row: Omit<ChainRow, 'hash'>): string {
  if (!/^\d+$/u.test(row.id) || !/^\d+$/u.test(row.seq)) throw new Error('id and seq must be decimal integers');
  return `[${[
    str(CHAIN_VERSION),
    row.id,
    row.seq,
    str(row.occurredAt),
    str(row.eventType),
    str(row.actorType),
    str(row.actorId),
    str(row.subjectType),
    str(row.subjectId),
    str(row.organizationId),
    str(row.ip),
    str(row.userAgent),
    str(row.requestId),
    canonicalJson(row.details),
    str(row.prevHash),
  ].join(',')}]`;
}

export function eventHash(row: Omit<ChainRow, 'hash'>): string {
  return createHash('sha256').update(canonicalEventText(row), 'utf8').digest('hex');
}

export interface ChainAnchor {
  seq: string;
  hash: string;
}

export type ChainVerification =
  { ok: true; rows: number; head: ChainAnchor | null } | { ok: false; rows: number; badRowId: string | null; reason: string };

/** Parses `<seq>:<hash>`, the form `audit:verify` prints as the head. */
export function parseAnchor(text: string): ChainAnchor | null {
  const match = /^(\d{1,19}):([0-9a-f]{64})$/u.exec(text.trim());
  return match ? { seq: match[1]!.replace(/^0+(?=\d)/u, ''), hash: match[2]! } : null;
}

/**
 * Walks the whole chain in seq order, in keyset pages inside one read-only REPEATABLE READ
 * snapshot (so rows appended meanwhile neither break nor join the check), and compares the
 * last row with `audit_chain_head`.
 */
export class AuditChainVerifier {
  constructor(private readonly dataSource: DataSource) {}

  async verify(options: { pageSize?: number; anchor?: ChainAnchor | null } = {}): Promise<ChainVerification> {
    const pageSize = Math.max(1, Math.min(10_000, options.pageSize ?? 1000));
    return inChainSnapshot(this.dataSource, (chain) => this.walk(chain, pageSize, options.anchor ?? null));
  }

  private async walk(chain: ChainReader, pageSize: number, anchor: ChainAnchor | null): Promise<ChainVerification> {
    let rows = 0;
    let prev: { id: string; seq: bigint; hash: string } | null = null;
    let anchorSeen = false;
    const broken = (row: ChainRow | null, reason: string): ChainVerification => ({
      ok: false,
      rows,
      badRowId: row?.id ?? null,
      reason: row ? `audit chain broken at row id=${row.id} (seq ${row.seq}): ${reason}` : `audit chain broken: ${reason}`,
    });

    // Same snapshot as the rows: the head a trigger wrote in the same transaction as the last row.
    const head = await chain.head();
    if (!head) return broken(null, 'the chain head (audit_chain_head) is missing');
    const headSeq = BigInt(head.seq);

    for (;;) {
      const page = await chain.page(prev?.seq ?? 0n, pageSize);
      for (const row of page) {
        const seq = BigInt(row.seq);
        const expected: bigint = (prev?.seq ?? 0n) + 1n;
        if (seq !== expected) {
          return broken(
            row,
            prev
              ? `expected seq ${expected} after row id=${prev.id}: ${seq - expected} row(s) before it are missing`
              : `the chain starts at seq ${seq}, not 1: the rows before it are missing`,
          );
        }
        const expectedPrev = prev?.hash ?? GENESIS_HASH;
        if (row.prevHash !== expectedPrev) {
          return broken(
            row,
            prev
              ? `prev_hash does not match the hash of the row before it (id=${prev.id}): that row was replaced, or rows were removed or inserted between them`
              : 'prev_hash of the first row is not the genesis hash',
          );
        }
        let recomputed: string;
        try {
          recomputed = eventHash(row);
        } catch (error) {
          return broken(row, `cannot be canonicalized (${(error as Error).message})`);
        }
        if (recomputed !== row.hash) return broken(row, 'its content does not match its hash: the row was edited');
        if (seq > headSeq) return broken(row, `it lies beyond the chain head (seq ${head.seq}): it was not appended through the chain`);
        if (seq === headSeq && row.hash !== head.hash) return broken(row, "its hash differs from the chain head's: the row was replaced");
        if (anchor && row.seq === anchor.seq) {
          if (row.hash !== anchor.hash) return broken(row, `its hash differs from the anchor ${anchor.seq}:${anchor.hash}`);
          anchorSeen = true;
        }
        rows++;
        prev = { id: row.id, seq, hash: row.hash };
      }
      if (page.length < pageSize) break;
    }

    if (headSeq > (prev?.seq ?? 0n)) {
      return broken(
        null,
        `the chain head is at seq ${head.seq} but the last row is ${prev ? `id=${prev.id} (seq ${prev.seq})` : 'none'}: rows were deleted from the end`,
      );
    }
    if (anchor && !anchorSeen) return broken(null, `the anchor seq ${anchor.seq} is not in the chain of ${rows} rows: rows were removed`);
    return { ok: true, rows, head: prev ? { seq: prev.seq.toString(), hash: prev.hash } : null };
  }
}
