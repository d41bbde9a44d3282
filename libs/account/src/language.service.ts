import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, auditMeta } from '#libs/audit';
import { Clock, DomainError } from '#libs/core';
import { MESSAGE_LOCALES, isMessageLocale, type MessageLocale } from '#libs/notifications';
import type { RequestMeta } from '#libs/sessions';
import { setUserLocale, userLocaleForUpdate, userLocaleWithDefault } from '#libs/identity';

export interface MessageLanguage {
  /** The user's own choice, or null (then the organization's default applies). */
  locale: MessageLocale | null;
  /** The organization's default, used while `locale` is null. */
  organizationDefault: MessageLocale;
}

/** The language of a user's messages (codes and notices); the hosted pages stay English. */
@Injectable()
export class MessageLanguageService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async current(userId: string): Promise<MessageLanguage> {
    const [row] = await userLocaleWithDefault(this.dataSource, [userId]);
    return {
      locale: isMessageLocale(row?.locale) ? row.locale : null,
      organizationDefault: isMessageLocale(row?.default_locale) ? row.default_locale : 'en',
    };
  }

  /** Sets the language (one of MESSAGE_LOCALES), audit-logged as `account.language_changed`. */
  async set(userId: string, input: unknown, meta: RequestMeta): Promise<MessageLocale> {
    if (!isMessageLocale(input)) {
      throw new DomainError('invalid_locale', `Choose one of the languages offered (${MESSAGE_LOCALES.join(', ')}).`);
    }
    await this.dataSource.transaction(async (m) => {
      const [row] = await userLocaleForUpdate(m, [userId]);
      if (!row) throw new DomainError('not_found', 'This account no longer exists.');
      await setUserLocale(m, [userId, input, this.clock.now()]);
      await this.audit.record(
        {
          type: 'account.language_changed',
          actor: { type: 'user', id: userId },
          subject: { type: 'user', id: userId },
          organizationId: row.organization_id,
          ...auditMeta(meta),
          details: { locale: input, previous: row.previous },
        },
        m,
      );
    });
    return input;
  }
}
