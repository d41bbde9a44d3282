import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Transaction codes (issue 7, part 2): one-time codes a service (an OIDC client with
 * `client_credentials`) has Gatehouse issue to one of its users, bound to the service's own
 * reference, and that the service or a verifier it allowed (client:allow-verify) checks.
 *
 * The code is never stored: `code_nonce` (random) derives it under a key from the OTP
 * secret, so only the server can show it to its user again, and `code_hmac` (HMAC-SHA256
 * under the OTP key, bound to the row id) is what a verification compares. `attempts` is
 * counted in the same UPDATE that consumes, so parallel guesses cannot exceed `max_attempts`.
 */
export class TransactionCodes1763850000000 implements MigrationInterface {
  name = 'TransactionCodes1763850000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE transaction_codes (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        issuer_client_id text NOT NULL REFERENCES oidc_clients(client_id),
        reference text NOT NULL CHECK (char_length(reference) BETWEEN 1 AND 100),
        description text NOT NULL CHECK (char_length(description) BETWEEN 1 AND 200),
        code_nonce bytea NOT NULL CHECK (octet_length(code_nonce) = 16),
        code_hmac bytea NOT NULL CHECK (octet_length(code_hmac) = 32),
        attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        max_attempts integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
        valid_until_end_of date,
        time_zone text,
        message_id uuid,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz,
        consumed_by_client_id text,
        cancelled_at timestamptz,
        CHECK (attempts <= max_attempts),
        CHECK (expires_at > created_at),
        CHECK ((valid_until_end_of IS NULL) = (time_zone IS NULL)),
        CHECK ((consumed_at IS NULL) = (consumed_by_client_id IS NULL)),
        CHECK (consumed_at IS NULL OR cancelled_at IS NULL)
      )`);
    // Verification looks a code up by its issuer's reference; the account page lists a user's open codes.
    await q.query(`CREATE INDEX transaction_codes_reference_idx ON transaction_codes (reference, issuer_client_id)`);
    await q.query(
      `CREATE INDEX transaction_codes_open_idx ON transaction_codes (user_id, expires_at) WHERE consumed_at IS NULL AND cancelled_at IS NULL`,
    );

    await q.query(`
      CREATE TABLE transaction_code_verifiers (
        verifier_client_id text NOT NULL REFERENCES oidc_clients(client_id),
        issuer_client_id text NOT NULL REFERENCES oidc_clients(client_id),
        created_at timestamptz NOT NULL,
        PRIMARY KEY (verifier_client_id, issuer_client_id),
        CHECK (verifier_client_id <> issuer_client_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE transaction_code_verifiers`);
    await q.query(`DROP TABLE transaction_codes`);
  }
}
