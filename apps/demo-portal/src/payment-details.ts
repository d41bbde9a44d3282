import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, type AuditEventInput } from '#libs/audit';
import { Clock } from '#libs/core';
import type { PaymentDetailsInput } from './iban.js';
import { paymentDetailsForUpdate, paymentDetailsOf, upsertPaymentDetails } from './portal.queries.js';

export interface PaymentDetails extends PaymentDetailsInput {
  updatedAt: Date;
}

/** Where a request came from, for the audit trail. */
export type RequestMeta = Pick<AuditEventInput, 'ip' | 'userAgent' | 'requestId'>;

/** `DE89…3000` → `…3000`: enough for an audit trail, useless to a thief. */
export const ibanTail = (iban: string) => `…${iban.slice(-4)}`;

/** The payment details the portal keeps per person (by Gatehouse's opaque `sub`). */
@Injectable()
export class PaymentDetailsStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async find(sub: string): Promise<PaymentDetails | null> {
    const rows = await paymentDetailsOf(this.dataSource, [sub]);
    const r = rows[0];
    return r ? { iban: r.iban, accountHolder: r.account_holder, updatedAt: r.updated_at } : null;
  }

  /** Saves the details and audits the change (masked) in one transaction. */
  async save(sub: string, details: PaymentDetailsInput, meta: RequestMeta & { acr: unknown; authTime: Date }): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const before = await paymentDetailsForUpdate(manager, [sub]);
      await upsertPaymentDetails(manager, [sub, details.iban, details.accountHolder, this.clock.now()]);
      await this.audit.record(
        {
          type: 'demo_portal.payment_details_changed',
          actor: { type: 'user', id: sub },
          subject: { type: 'user', id: sub },
          ip: meta.ip,
          userAgent: meta.userAgent,
          requestId: meta.requestId,
          details: {
            iban: ibanTail(details.iban),
            previous_iban: before[0] ? ibanTail(before[0].iban) : null,
            acr: meta.acr,
            auth_time: meta.authTime.toISOString(),
          },
        },
        manager,
      );
    });
  }
}
