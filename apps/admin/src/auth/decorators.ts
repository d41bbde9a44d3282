import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { StaffPrincipal, StaffRole } from '#libs/staff';
import type { StaffSession } from '#libs/staff';

export const PUBLIC_ROUTE = 'gatehouse:admin:public';
export const REQUIRED_ROLE = 'gatehouse:admin:role';

/** A console route anyone may open (sign-in, setup, stylesheet). Its POSTs still need the pre-session CSRF token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

/**
 * The least role a route needs: `@Roles('support')` lets every signed-in staff member in,
 * `@Roles('supervisor')` only supervisors (a supervisor can do all that support can).
 * On a method it overrides one on the class.
 */
export const Roles = (role: StaffRole): MethodDecorator & ClassDecorator => SetMetadata(REQUIRED_ROLE, role);

/** What the guard puts on the request. */
export interface StaffRequest extends Request {
  staff?: StaffPrincipal;
  staffSession?: { id: string; token: string; session: StaffSession };
}

/** The signed-in staff member (`req.staff`): `{ id, email, name, role }`. */
export const CurrentStaff = createParamDecorator((_data: unknown, ctx: ExecutionContext): StaffPrincipal => {
  const staff = ctx.switchToHttp().getRequest<StaffRequest>().staff;
  // The guard sets it on every non-public route; on a public one this is a programming error.
  if (!staff) throw new Error('@CurrentStaff() used on a route without a signed-in staff member (is it @Public()?)');
  return staff;
});

/** The request of a signed-in staff member: the guard has set `staff` and `staffSession` on it. */
export interface SignedInRequest extends StaffRequest {
  staff: StaffPrincipal;
  staffSession: NonNullable<StaffRequest['staffSession']>;
}

/**
 * The request with the signed-in staff member on it (`req.staff`), for handlers that need the
 * request too (CSRF tokens, audit metadata); like `@CurrentStaff()`, never on a public route.
 */
export const SignedIn = createParamDecorator((_data: unknown, ctx: ExecutionContext): SignedInRequest => {
  const req = ctx.switchToHttp().getRequest<StaffRequest>();
  if (!req.staff || !req.staffSession) throw new Error('@SignedIn() used on a route without a signed-in staff member (is it @Public()?)');
  return req as SignedInRequest;
});
