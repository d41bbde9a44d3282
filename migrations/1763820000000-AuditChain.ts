import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Advisory lock key (two-int form, a key space nothing else in Gatehouse uses) that serializes appenders. */
const CHAIN_LOCK = '1635083380, 1';

/**
 * Tamper-evident audit log: every row carries `seq` (1, 2, 3, … with no gaps), `prev_hash`
 * (the hash of row seq-1, 64 zeros for seq 1) and `hash` = SHA-256 over the canonical form
 * of the row (libs/audit/src/chain.ts documents it and recomputes it independently).
 *
 * The chain is computed in the database by a BEFORE INSERT trigger, so every writer (app
 * nodes, CLI, raw SQL) is chained the same way. The trigger takes a transaction-scoped
 * advisory lock, which serializes appenders until commit; PostgreSQL makes a commit visible
 * before it releases the transaction's locks, so the next appender (READ COMMITTED: a fresh
 * snapshot per statement) reads the committed last row. The chain never forks, and a
 * rolled-back append leaves no gap (its seq is reused). A REPEATABLE READ or SERIALIZABLE
 * transaction that appends after a concurrent append fails on the unique seq instead of
 * forking. `audit_chain_head` keeps the highest seq/hash ever appended (advanced once per
 * statement): rows deleted from the end then show as a gap, and `audit:verify` compares it
 * with the last row.
 *
 * Also replaces the two query indexes with ones that end in (occurred_at, id) for keyset
 * paging, newest first (AuditQuery).
 */
export class AuditChain1763820000000 implements MigrationInterface {
  name = 'AuditChain1763820000000';

  async up(q: QueryRunner): Promise<void> {
    // Canonical JSON: objects with keys in UTF-8 byte order, no whitespace; scalars as jsonb prints them.
    await q.query(`
      CREATE FUNCTION audit_canonical_json(j jsonb) RETURNS text
      LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
      BEGIN
        CASE jsonb_typeof(j)
          WHEN 'object' THEN
            RETURN '{' || coalesce((
              SELECT string_agg(to_json(e.k)::text || ':' || audit_canonical_json(e.v), ',' ORDER BY e.k COLLATE "C")
              FROM jsonb_each(j) AS e(k, v)), '') || '}';
          WHEN 'array' THEN
            RETURN '[' || coalesce((
              SELECT string_agg(audit_canonical_json(a.v), ',' ORDER BY a.n)
              FROM jsonb_array_elements(j) WITH ORDINALITY AS a(v, n)), '') || ']';
          ELSE
            RETURN j::text;
        END CASE;
      END $$`);
    await q.query(`
      CREATE FUNCTION audit_json_text(t text) RETURNS text
      LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT coalesce(to_json(t)::text, 'null') $$`);
    await q.query(`
      CREATE FUNCTION audit_event_hash(
        id bigint, seq bigint, occurred_at timestamptz, event_type text, actor_type text, actor_id text,
        subject_type text, subject_id text, organization_id uuid, ip inet, user_agent text, request_id text,
        details jsonb, prev_hash text
      ) RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
      BEGIN
        RETURN encode(sha256(convert_to(
          '["gatehouse.audit.v1",' || id::text || ',' || seq::text || ','
          || audit_json_text(to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || ','
          || audit_json_text(event_type) || ',' || audit_json_text(actor_type) || ',' || audit_json_text(actor_id) || ','
          || audit_json_text(subject_type) || ',' || audit_json_text(subject_id) || ','
          || audit_json_text(organization_id::text) || ',' || audit_json_text(ip::text) || ','
          || audit_json_text(user_agent) || ',' || audit_json_text(request_id) || ','
          || audit_canonical_json(details) || ',' || audit_json_text(prev_hash) || ']',
          'UTF8')), 'hex');
      END $$`);

    await q.query(`ALTER TABLE audit_events ADD COLUMN seq bigint, ADD COLUMN prev_hash text, ADD COLUMN hash text`);
    // Chain the rows written before this migration, in id order (the append order so far).
    await q.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
    await q.query(`
      DO $$
      DECLARE
        r audit_events%ROWTYPE;
        n bigint := 0;
        prev text := repeat('0', 64);
      BEGIN
        FOR r IN SELECT * FROM audit_events ORDER BY id LOOP
          n := n + 1;
          UPDATE audit_events SET seq = n, prev_hash = prev,
            hash = audit_event_hash(r.id, n, r.occurred_at, r.event_type, r.actor_type, r.actor_id, r.subject_type,
              r.subject_id, r.organization_id, r.ip, r.user_agent, r.request_id, r.details, prev)
          WHERE id = r.id
          RETURNING hash INTO prev;
        END LOOP;
      END $$`);
    await q.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
    await q.query(`
      ALTER TABLE audit_events
        ALTER COLUMN seq SET NOT NULL,
        ALTER COLUMN prev_hash SET NOT NULL,
        ALTER COLUMN hash SET NOT NULL,
        ADD CONSTRAINT audit_events_seq_key UNIQUE (seq),
        ADD CONSTRAINT audit_events_seq_check CHECK (seq > 0),
        ADD CONSTRAINT audit_events_hash_check CHECK (hash ~ '^[0-9a-f]{64}$' AND prev_hash ~ '^[0-9a-f]{64}$')`);

    await q.query(`
      CREATE TABLE audit_chain_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        seq bigint NOT NULL CHECK (seq >= 0),
        hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
      )`);
    await q.query(`
      INSERT INTO audit_chain_head (seq, hash)
      SELECT coalesce(max(seq), 0),
             coalesce((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), repeat('0', 64))
      FROM audit_events`);
    // The head only moves forward, and never goes away.
    await q.query(`
      CREATE FUNCTION audit_chain_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.seq > OLD.seq AND NEW.singleton THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_chain_head only advances with the audit log: % is not allowed', TG_OP
          USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_chain_head_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_chain_head
      FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard()`);
    await q.query(`
      CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
      FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_guard()`);

    // SECURITY DEFINER: an application role granted only SELECT and INSERT on audit_events
    // needs no privilege on the head. search_path is pinned to the one in effect now.
    await q.query(`
      CREATE FUNCTION audit_events_chain() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
      DECLARE
        last_seq bigint;
        last_hash text;
        head audit_chain_head%ROWTYPE;
      BEGIN
        -- Held until commit or rollback: one appender at a time. The lock is released only
        -- after the commit is visible, and each statement below takes a fresh snapshot
        -- (READ COMMITTED), so the previous appender's row is seen.
        PERFORM pg_advisory_xact_lock(${CHAIN_LOCK});
        -- The last row, including rows this statement inserted before this one.
        SELECT e.seq, e.hash INTO last_seq, last_hash FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
        -- The head is a high-water mark: rows deleted from the end leave a gap, not a fresh link.
        SELECT * INTO STRICT head FROM audit_chain_head WHERE singleton;
        IF last_seq IS NULL OR head.seq > last_seq THEN
          last_seq := head.seq;
          last_hash := head.hash;
        END IF;
        NEW.seq := last_seq + 1;
        NEW.prev_hash := last_hash;
        NEW.hash := audit_event_hash(NEW.id, NEW.seq, NEW.occurred_at, NEW.event_type, NEW.actor_type, NEW.actor_id,
          NEW.subject_type, NEW.subject_id, NEW.organization_id, NEW.ip, NEW.user_agent, NEW.request_id, NEW.details,
          NEW.prev_hash);
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
      FOR EACH ROW EXECUTE FUNCTION audit_events_chain()`);
    // Once per statement (a bulk insert would otherwise pile up row versions of the head).
    await q.query(`
      CREATE FUNCTION audit_chain_head_advance() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
      BEGIN
        UPDATE audit_chain_head h SET seq = n.seq, hash = n.hash
        FROM (SELECT seq, hash FROM appended ORDER BY seq DESC LIMIT 1) AS n
        WHERE h.singleton AND n.seq > h.seq;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_events_chain_head AFTER INSERT ON audit_events
      REFERENCING NEW TABLE AS appended
      FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_advance()`);
    await q.query(`REVOKE ALL ON FUNCTION audit_events_chain() FROM PUBLIC`);
    await q.query(`REVOKE ALL ON FUNCTION audit_chain_head_advance() FROM PUBLIC`);

    // Keyset paging newest first: every index ends in (occurred_at, id).
    await q.query(`DROP INDEX audit_events_subject_idx`);
    await q.query(`DROP INDEX audit_events_type_idx`);
    await q.query(`CREATE INDEX audit_events_time_idx ON audit_events (occurred_at, id)`);
    await q.query(`CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, subject_type, occurred_at, id)`);
    await q.query(`CREATE INDEX audit_events_actor_idx ON audit_events (actor_type, actor_id, occurred_at, id)`);
    // COLLATE "C": byte order, so an event-type prefix is a plain range scan whatever the database's collation.
    await q.query(`CREATE INDEX audit_events_type_idx ON audit_events ((event_type COLLATE "C"), occurred_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX audit_events_type_idx`);
    await q.query(`DROP INDEX audit_events_actor_idx`);
    await q.query(`DROP INDEX audit_events_subject_idx`);
    await q.query(`DROP INDEX audit_events_time_idx`);
    await q.query(`CREATE INDEX audit_events_subject_idx ON audit_events (subject_type, subject_id, occurred_at)`);
    await q.query(`CREATE INDEX audit_events_type_idx ON audit_events (event_type, occurred_at)`);
    await q.query(`DROP TRIGGER audit_events_chain_head ON audit_events`);
    await q.query(`DROP FUNCTION audit_chain_head_advance()`);
    await q.query(`DROP TRIGGER audit_events_chain ON audit_events`);
    await q.query(`DROP FUNCTION audit_events_chain()`);
    await q.query(`DROP TABLE audit_chain_head`);
    await q.query(`DROP FUNCTION audit_chain_head_guard()`);
    await q.query(`
      ALTER TABLE audit_events
        DROP CONSTRAINT audit_events_hash_check,
        DROP CONSTRAINT audit_events_seq_check,
        DROP CONSTRAINT audit_events_seq_key,
        DROP COLUMN hash,
        DROP COLUMN prev_hash,
        DROP COLUMN seq`);
    await q.query(
      `DROP FUNCTION audit_event_hash(bigint, bigint, timestamptz, text, text, text, text, text, uuid, inet, text, text, jsonb, text)`,
    );
    await q.query(`DROP FUNCTION audit_json_text(text)`);
    await q.query(`DROP FUNCTION audit_canonical_json(jsonb)`);
  }
}
