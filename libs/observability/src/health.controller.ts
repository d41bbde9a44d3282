import { Controller, Get, HttpCode, ServiceUnavailableException } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { pingDatabase } from '#libs/database';

@Controller()
export class HealthController {
  constructor(private readonly dataSource: DataSource) {}

  /** The process is up. */
  @Get('healthz')
  @HttpCode(200)
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** The database answers. 503 when it does not, so a load balancer takes the node out. */
  @Get('readyz')
  async ready(): Promise<{ status: 'ready' }> {
    try {
      await Promise.race([
        pingDatabase(this.dataSource),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
      return { status: 'ready' };
    } catch {
      throw new ServiceUnavailableException({ status: 'unavailable', reason: 'database unreachable' });
    }
  }
}
