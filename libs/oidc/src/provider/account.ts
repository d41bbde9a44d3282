import type { Account, Configuration } from 'oidc-provider';
import { isUuid } from '#libs/core';
import { userWithOrganizationFromJson, type Directory } from '#libs/identity';
import { accountReadAhead } from '../pg-adapter.js';

function uuidOrNull(value: string): string | null {
  return isUuid(value) ? value : null;
}

/** oidc-provider's `findAccount`: an active user, with the claims Gatehouse releases. */
export function accountFinder(directory: Directory): NonNullable<Configuration['findAccount']> {
  return async (_ctx, sub): Promise<Account | undefined> => {
    const id = uuidOrNull(sub);
    // Token, userinfo and introspection requests read the user with their token (the adapter's read-ahead);
    // elsewhere one statement for the user and the organization's slug.
    const ahead = id ? accountReadAhead(id) : undefined;
    const found = ahead !== undefined ? userWithOrganizationFromJson(ahead) : id ? await directory.userWithOrganization(id) : null;
    if (!found || found.user.status !== 'active') return undefined;
    const { user, organizationSlug } = found;
    return {
      accountId: user.id,
      claims: () => ({
        sub: user.id,
        name: `${user.firstName} ${user.lastName}`.trim(),
        given_name: user.firstName,
        family_name: user.lastName,
        email: user.email,
        email_verified: user.emailVerifiedAt !== null,
        ...(user.mobile ? { phone_number: user.mobile, phone_number_verified: user.mobileVerifiedAt !== null } : {}),
        enterprise_id: user.enterpriseId,
        ...(organizationSlug ? { organization: organizationSlug } : {}),
      }),
    };
  };
}
