import type { DataSource } from 'typeorm';
import type { Secrets } from '#libs/config';
import type { Clock } from '#libs/core';
import { OutboxService } from './outbox.service.js';
import { OutboxWorker } from './outbox.worker.js';
import { outboxPolicy, type OutboxPolicy } from './policy.js';
import { createSenders, type SenderConfig, type Senders } from './sender-factory.js';

export interface OutboxParts {
  service: OutboxService;
  worker: OutboxWorker;
  senders: Senders;
  policy: OutboxPolicy;
}

/**
 * The outbox without Nest (CLI, tests, benchmarks): senders chosen from the config unless
 * given, and a policy from defaults plus overrides. Start the worker yourself if you want
 * the periodic loop; `worker.runOnce()` and `service.deliverNow()` work without it.
 */
export function createOutbox(deps: {
  dataSource: DataSource;
  clock: Clock;
  secrets: Secrets;
  config: SenderConfig;
  policy?: Partial<OutboxPolicy>;
  senders?: Partial<Senders>;
}): OutboxParts {
  const policy = outboxPolicy(deps.policy);
  const senders = { ...createSenders(deps.config, deps.clock, policy), ...deps.senders };
  const worker = new OutboxWorker(deps.dataSource, deps.clock, deps.secrets, senders.mail, senders.sms, senders.voice, policy);
  const service = new OutboxService(deps.dataSource, deps.clock, deps.secrets, worker, policy);
  return { service, worker, senders, policy };
}
