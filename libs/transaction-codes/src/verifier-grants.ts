import type { DataSource } from 'typeorm';
import type { AuditEventInput, AuditService } from '#libs/audit';
import { DomainError, type Clock } from '#libs/core';
import { clientsForVerifierGrant, insertVerifierGrant } from './transaction-codes.queries.js';

/**
 * Client-to-client grants: which service may verify the transaction codes that another
 * service issued (`client:allow-verify --verifier <id> --issuer <id>`). Without one, a
 * verifier sees only the codes it issued itself.
 */
export class VerifierGrants {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  /**
   * Lets `verifier` verify `issuer`'s codes. Both must be registered, the verifier with the
   * scope `transaction_codes:verify` and the issuer with `transaction_codes`. Returns false
   * when the grant existed already (nothing changes, nothing is audited).
   */
  async allow(verifier: string, issuer: string, actor: AuditEventInput['actor']): Promise<boolean> {
    if (verifier === issuer) throw new DomainError('invalid_grant', 'a service verifies its own codes already; give two different clients');
    return await this.dataSource.transaction(async (m) => {
      const rows = await clientsForVerifierGrant(m, [[verifier, issuer]]);
      const find = (id: string) => rows.find((r) => r.client_id === id);
      const v = find(verifier);
      const i = find(issuer);
      if (!v) throw new DomainError('invalid_grant', `no client ${JSON.stringify(verifier)} (--verifier)`);
      if (!i) throw new DomainError('invalid_grant', `no client ${JSON.stringify(issuer)} (--issuer)`);
      if (!v.scopes.includes('transaction_codes:verify')) {
        throw new DomainError('invalid_grant', `the verifier is not registered with the scope transaction_codes:verify`);
      }
      if (!i.scopes.includes('transaction_codes')) {
        throw new DomainError('invalid_grant', `the issuer is not registered with the scope transaction_codes`);
      }
      const inserted = await insertVerifierGrant(m, [verifier, issuer, this.clock.now()]);
      if (inserted.length === 0) return false;
      await this.audit.record(
        {
          type: 'transaction_code.verifier_allowed',
          actor,
          subject: { type: 'client', id: verifier },
          details: { verifier_client_id: verifier, issuer_client_id: issuer },
        },
        m,
      );
      return true;
    });
  }
}
