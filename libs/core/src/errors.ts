/**
 * A failure the caller can act on. `code` is stable and machine-readable; the
 * message is for people and never carries a secret.
 */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
