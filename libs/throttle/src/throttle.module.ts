import { Module } from '@nestjs/common';
import { ThrottleService } from './throttle.service.js';

/** The throttle (reservations and lockouts). Needs TypeORM's DataSource and Clock from the global platform module. */
@Module({ providers: [ThrottleService], exports: [ThrottleService] })
export class ThrottleModule {}
