import type { FieldChange } from './profile.js';

export type PendingChangeStatus = 'pending' | 'approved' | 'rejected' | 'cancelled';

/** An email and/or mobile change of an enrolled user, waiting for (or decided by) a supervisor. */
export interface PendingChange {
  id: string;
  userId: string;
  organizationId: string;
  changes: { email?: FieldChange; mobile?: FieldChange };
  reason: string;
  correctionRequestId: string | null;
  status: PendingChangeStatus;
  requestedBy: string;
  requestedAt: Date;
  decidedBy: string | null;
  decidedAt: Date | null;
  decisionReason: string | null;
}

export interface PendingChangeRow {
  id: string;
  user_id: string;
  organization_id: string;
  changes: { email?: FieldChange; mobile?: FieldChange };
  reason: string;
  correction_request_id: string | null;
  status: PendingChangeStatus;
  requested_by: string;
  requested_at: Date;
  decided_by: string | null;
  decided_at: Date | null;
  decision_reason: string | null;
}

export function toPendingChange(r: PendingChangeRow): PendingChange {
  return {
    id: r.id,
    userId: r.user_id,
    organizationId: r.organization_id,
    changes: r.changes,
    reason: r.reason,
    correctionRequestId: r.correction_request_id,
    status: r.status,
    requestedBy: r.requested_by,
    requestedAt: r.requested_at,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    decisionReason: r.decision_reason,
  };
}
