import { Module } from '@nestjs/common';
import { FlowStore } from './flow-store.js';

/** The flow store (auth_flows). Needs TypeORM's DataSource and Clock from the global platform module. */
@Module({ providers: [FlowStore], exports: [FlowStore] })
export class FlowsModule {}
