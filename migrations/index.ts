import { Foundation1763780000000 } from './1763780000000-Foundation.js';
import { SignIn1763790000000 } from './1763790000000-SignIn.js';
import { Oidc1763810000000 } from './1763810000000-Oidc.js';
import { AuditChain1763820000000 } from './1763820000000-AuditChain.js';
import { Staff1763830000000 } from './1763830000000-Staff.js';
import { Support1763835000000 } from './1763835000000-Support.js';
import { EmergencyContacts1763840000000 } from './1763840000000-EmergencyContacts.js';
import { TransactionCodes1763850000000 } from './1763850000000-TransactionCodes.js';
import { OidcLogout1763860000000 } from './1763860000000-OidcLogout.js';
import { DemoPortal1763870000000 } from './1763870000000-DemoPortal.js';
import { Locale1763880000000 } from './1763880000000-Locale.js';
import { OidcGrantAccount1763890000000 } from './1763890000000-OidcGrantAccount.js';
import { OutboxWithdrawn1763900000000 } from './1763900000000-OutboxWithdrawn.js';
import { TransactionCodeMessage1763910000000 } from './1763910000000-TransactionCodeMessage.js';
import { OidcInteractionSession1763920000000 } from './1763920000000-OidcInteractionSession.js';
import { ThrottleReservations1763930000000 } from './1763930000000-ThrottleReservations.js';
import { DeviceUse1763930200000 } from './1763930200000-DeviceUse.js';
import { OidcClientPkce1763930100000 } from './1763930100000-OidcClientPkce.js';
import { AllowedFactors1763940000000 } from './1763940000000-AllowedFactors.js';

/** Every migration, in order. The DataSource lists them explicitly (no globs), so the
 * same list works from TypeScript sources in tests and from dist/ at run time. */
export const MIGRATIONS = [
  Foundation1763780000000,
  SignIn1763790000000,
  Oidc1763810000000,
  AuditChain1763820000000,
  Staff1763830000000,
  Support1763835000000,
  EmergencyContacts1763840000000,
  TransactionCodes1763850000000,
  OidcLogout1763860000000,
  DemoPortal1763870000000,
  Locale1763880000000,
  OidcGrantAccount1763890000000,
  OutboxWithdrawn1763900000000,
  TransactionCodeMessage1763910000000,
  OidcInteractionSession1763920000000,
  ThrottleReservations1763930000000,
  OidcClientPkce1763930100000,
  DeviceUse1763930200000,
  AllowedFactors1763940000000,
];
