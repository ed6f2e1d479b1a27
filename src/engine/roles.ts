/** Roles are ordered: a higher role may do what a lower one may (viewer < dba-operator < cluster-admin). */
import type { Approver, Role } from '../config-types.js';

export const ROLE_RANK: Record<Role, number> = { 'redis.viewer': 0, 'redis.dba-operator': 1, 'redis.cluster-admin': 2 };

export function mayApprove(roles: readonly Role[], needed: Role): boolean {
  return roles.some((r) => ROLE_RANK[r] >= ROLE_RANK[needed]);
}

/** Configured identities whose roles may approve a step that needs `needed`. */
export function approversFor(approvers: readonly Approver[], needed: Role): string[] {
  return approvers.filter((a) => mayApprove(a.roles, needed)).map((a) => a.id);
}
