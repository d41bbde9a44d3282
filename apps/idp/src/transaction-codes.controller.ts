import { Body, Controller, Delete, Header, HttpCode, Param, Post, Req, UseFilters } from '@nestjs/common';
import type { Request } from 'express';
import { Bearer, RequireBearer, type BearerPrincipal } from '#libs/oidc';
import { TransactionCodeService } from '#libs/transaction-codes';
import { ProblemFilter } from './problem.filter.js';
import { WebContext } from './web-context.js';

/**
 * Transaction codes API (CONTRACT "Transaction codes API"), for services with a
 * `client_credentials` access token: issue (`transaction_codes`), verify
 * (`transaction_codes:verify`), cancel (`transaction_codes`, the issuer only). Errors are
 * RFC 9457 problems; a missing or dead token is 401 and a missing scope 403 (RFC 6750).
 */
@Controller('api/v1/transaction-codes')
@UseFilters(ProblemFilter)
export class TransactionCodesApiController {
  constructor(
    private readonly web: WebContext,
    private readonly codes: TransactionCodeService,
  ) {}

  @Post()
  @HttpCode(201)
  @Header('Cache-Control', 'no-store')
  @RequireBearer({ scopes: ['transaction_codes'], kind: 'client' })
  async issue(@Bearer() who: BearerPrincipal, @Body() body: unknown, @Req() req: Request) {
    const issued = await this.codes.issue(who.clientId, body, this.web.meta(req));
    return { id: issued.id, reference: issued.reference, expires_at: issued.expiresAt.toISOString() };
  }

  @Post('verify')
  @HttpCode(200)
  @Header('Cache-Control', 'no-store')
  @RequireBearer({ scopes: ['transaction_codes:verify'], kind: 'client' })
  async verify(@Bearer() who: BearerPrincipal, @Body() body: unknown, @Req() req: Request) {
    return { valid: await this.codes.verify(who.clientId, body, this.web.meta(req)) };
  }

  @Delete(':id')
  @HttpCode(204)
  @RequireBearer({ scopes: ['transaction_codes'], kind: 'client' })
  async cancel(@Bearer() who: BearerPrincipal, @Param('id') id: string, @Req() req: Request): Promise<void> {
    await this.codes.cancel(who.clientId, id, this.web.meta(req));
  }
}
