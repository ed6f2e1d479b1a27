/**
 * Who a Slack user is for the engine: `slack:<U…>` plus `slack-group:<S…>` for each configured
 * approver user group they belong to. Groups are read from Slack and cached briefly: usergroups.list
 * tells which groups are enabled (a disabled group grants nothing), usergroups.users.list who is in
 * each configured one. The engine maps these identities to roles (config `approvers`).
 */
import type { Logger } from 'pino';
import type { Approver, Role } from '../../config-types.js';
import type { EnginePort } from '../../engine/types.js';
import type { WebClient } from './client.js';

/** How long a group's member list is trusted. */
export const GROUP_CACHE_MS = 60_000;
/** After this, a cached member list is too old to fall back on when Slack fails. */
const STALE_LIMIT_MS = 10 * 60_000;

export interface SlackIdentity {
  /** `slack:<userId>` */
  by: string;
  /** `slack-group:<id>` of each configured group the user is in. */
  also: string[];
  roles: Role[];
  /** Some group memberships could not be read (Slack failed and nothing usable was cached). */
  groupsUnknown: boolean;
}

interface Members {
  users: Set<string>;
  at: number;
}

export class SlackIdentities {
  private readonly cache = new Map<string, Members>();
  private enabled: Members | undefined;
  private enabledInflight: Promise<Members | undefined> | undefined;
  private readonly inflight = new Map<string, Promise<Members | undefined>>();
  private readonly groups: string[];

  constructor(
    private readonly d: { client: WebClient; engine: Pick<EnginePort, 'rolesOf'>; approvers: Approver[]; log: Logger; now?: () => number },
  ) {
    this.groups = d.approvers.map((a) => /^slack-group:(S[A-Z0-9]+)$/.exec(a.id)?.[1]).filter((g): g is string => g !== undefined);
  }

  async resolve(userId: string): Promise<SlackIdentity> {
    const by = `slack:${userId}`;
    const also: string[] = [];
    let groupsUnknown = false;
    const enabled = this.groups.length > 0 ? await this.enabledGroups() : undefined;
    if (this.groups.length > 0 && !enabled) groupsUnknown = true;
    await Promise.all(
      this.groups.filter((g) => enabled?.users.has(g)).map(async (g) => {
        const m = await this.members(g);
        if (!m) groupsUnknown = true;
        else if (m.users.has(userId)) also.push(`slack-group:${g}`);
      }),
    );
    also.sort();
    return { by, also, roles: this.d.engine.rolesOf(by, also), groupsUnknown };
  }

  /** Ids of the workspace's enabled user groups (as a Members record: `users` holds group ids). */
  private async enabledGroups(): Promise<Members | undefined> {
    const now = (this.d.now ?? Date.now)();
    const hit = this.enabled;
    if (hit && now - hit.at < GROUP_CACHE_MS) return hit;
    this.enabledInflight ??= this.d.client.usergroups
      .list({ include_disabled: false })
      .then((res) => {
        this.enabled = { users: new Set((res.usergroups ?? []).filter((g) => !g.date_delete).map((g) => g.id ?? '')), at: now };
        return this.enabled;
      })
      .catch((e: unknown) => {
        this.d.log.warn({ err: (e as Error).message }, 'could not list slack user groups');
        return undefined;
      })
      .finally(() => {
        this.enabledInflight = undefined;
      });
    const fresh = await this.enabledInflight;
    if (fresh) return fresh;
    return hit && now - hit.at < STALE_LIMIT_MS ? hit : undefined;
  }

  private async members(group: string): Promise<Members | undefined> {
    const now = (this.d.now ?? Date.now)();
    const hit = this.cache.get(group);
    if (hit && now - hit.at < GROUP_CACHE_MS) return hit;
    let p = this.inflight.get(group);
    if (!p) {
      p = this.fetch(group, now).finally(() => this.inflight.delete(group));
      this.inflight.set(group, p);
    }
    const fresh = await p;
    if (fresh) return fresh;
    return hit && now - hit.at < STALE_LIMIT_MS ? hit : undefined;
  }

  private async fetch(group: string, now: number): Promise<Members | undefined> {
    try {
      const res = await this.d.client.usergroups.users.list({ usergroup: group });
      const m = { users: new Set(res.users ?? []), at: now };
      this.cache.set(group, m);
      return m;
    } catch (e) {
      this.d.log.warn({ group, err: (e as Error).message }, 'could not read slack user group members');
      return undefined;
    }
  }
}
