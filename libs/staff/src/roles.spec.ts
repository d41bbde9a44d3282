import { DomainError } from '#libs/core';
import { assertCanActOn, hasRole, type StaffPrincipal } from './roles.js';

const support: StaffPrincipal = { id: 'a1', email: 'Sue.Port@Example.com', name: 'Sue Port', role: 'support' };
const supervisor: StaffPrincipal = { id: 'b2', email: 'sam@example.com', name: 'Sam', role: 'supervisor' };

function refusal(fn: () => void): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof DomainError && error.code === 'forbidden') return error.message;
    throw error;
  }
}

describe('staff roles', () => {
  it('lets a supervisor do what support can, not the other way round', () => {
    expect(hasRole('supervisor', 'support')).toBe(true);
    expect(hasRole('supervisor', 'supervisor')).toBe(true);
    expect(hasRole('support', 'support')).toBe(true);
    expect(hasRole('support', 'supervisor')).toBe(false);
  });

  it('never lets anyone act on their own staff account', () => {
    expect(refusal(() => assertCanActOn(support, { type: 'staff', id: 'a1' }))).toMatch(/own account/u);
    expect(refusal(() => assertCanActOn(supervisor, { type: 'staff', id: 'b2' }))).toMatch(/own account/u);
  });

  it('never lets support act on staff; a supervisor may act on other staff', () => {
    expect(refusal(() => assertCanActOn(support, { type: 'staff', id: 'b2' }))).toMatch(/supervisor/u);
    expect(refusal(() => assertCanActOn(supervisor, { type: 'staff', id: 'a1' }))).toBeNull();
  });

  it('treats an end-user account with the staff member’s own address as their own, whatever its case', () => {
    expect(refusal(() => assertCanActOn(support, { type: 'user', id: 'u1', email: 'sue.port@example.COM' }))).toMatch(/own account/u);
    expect(refusal(() => assertCanActOn(supervisor, { type: 'legacy_account', id: 'l1', email: ' SAM@example.com ' }))).toMatch(
      /own account/u,
    );
    expect(refusal(() => assertCanActOn(support, { type: 'user', id: 'u1', email: 'someone@example.com' }))).toBeNull();
    expect(refusal(() => assertCanActOn(support, { type: 'legacy_account', id: 'l1' }))).toBeNull();
  });
});
