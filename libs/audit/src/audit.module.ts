import { Module } from '@nestjs/common';
import { AuditQuery } from './audit-query.js';
import { AuditService } from './audit.service.js';

const AUDIT = [AuditService, AuditQuery];

/**
 * The audit trail: AuditService (recording) and AuditQuery (reading). Needs TypeORM's DataSource
 * and Clock from the global platform module.
 *
 * Nearly every library records audit events, so libraries do not import this module: the global
 * PlatformModule (libs/platform) imports it once and re-exports it, which makes AuditService and
 * AuditQuery available everywhere, like the DataSource and the Clock.
 */
@Module({ providers: AUDIT, exports: AUDIT })
export class AuditModule {}
