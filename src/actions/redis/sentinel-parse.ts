/**
 * Pure parsers for Sentinel replies: SENTINEL MASTER / REPLICAS / SENTINELS (flat field/value
 * arrays, or maps under RESP3), CKQUORUM text, INFO sentinel; and the replica-eligibility rules
 * Sentinel applies when it selects a replica to promote (sentinel.c `sentinelSelectSlave`).
 * No I/O; unit-tested on replies captured from redis-sentinel 7.0.15 (test/fixtures/sentinel-*).
 */
import { parseKv, type InfoSection } from './info.js';

/** A flat `[k, v, k, v…]` reply, or a map/object, as a string record. */
export function sentinelRecord(reply: unknown): Record<string, string> {
  const rec: Record<string, string> = {};
  const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) rec[text(reply[i])] = text(reply[i + 1]);
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) rec[text(k)] = text(v);
  } else if (reply && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) rec[k] = text(v);
  }
  return rec;
}

/** A list reply (REPLICAS, SENTINELS) as records. */
export function sentinelRecords(reply: unknown): Array<Record<string, string>> {
  return Array.isArray(reply) ? reply.map(sentinelRecord) : [];
}

const int = (v: string | undefined): number | null => {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};

/** What one Sentinel says about the monitored primary (SENTINEL MASTER <name>). */
export interface SentinelMasterView {
  name: string;
  /** `host:port` this Sentinel names as primary. */
  primary: string;
  flags: string[];
  sDown: boolean;
  oDown: boolean;
  /** A failover runs (`failover_in_progress`). */
  failoverInProgress: boolean;
  /** `failover-state` while a failover runs, else null. */
  failoverState: string | null;
  quorum: number;
  numOtherSentinels: number;
  numReplicas: number;
  configEpoch: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
  /** ms since this Sentinel judged the primary down (present only while s_down). */
  sDownTimeMs: number | null;
  oDownTimeMs: number | null;
  lastOkPingReplyMs: number | null;
  roleReported: string | null;
}

/** Parses SENTINEL MASTER. */
export function parseSentinelMaster(reply: unknown): SentinelMasterView {
  const r = sentinelRecord(reply);
  const flags = (r['flags'] ?? '').split(',').filter(Boolean);
  return {
    name: r['name'] ?? '',
    primary: `${r['ip'] ?? ''}:${r['port'] ?? ''}`,
    flags,
    sDown: flags.includes('s_down'),
    oDown: flags.includes('o_down'),
    failoverInProgress: flags.includes('failover_in_progress'),
    failoverState: r['failover-state'] ?? null,
    quorum: int(r['quorum']) ?? 0,
    numOtherSentinels: int(r['num-other-sentinels']) ?? 0,
    numReplicas: int(r['num-slaves']) ?? 0,
    configEpoch: int(r['config-epoch']) ?? 0,
    downAfterMs: int(r['down-after-milliseconds']) ?? 0,
    failoverTimeoutMs: int(r['failover-timeout']) ?? 0,
    sDownTimeMs: int(r['s-down-time']),
    oDownTimeMs: int(r['o-down-time']),
    lastOkPingReplyMs: int(r['last-ok-ping-reply']),
    roleReported: r['role-reported'] ?? null,
  };
}

/** One replica as a Sentinel sees it (an entry of SENTINEL REPLICAS <name>). */
export interface SentinelReplicaView {
  /** `host:port`. */
  node: string;
  runid: string;
  flags: string[];
  /** s_down or o_down. */
  down: boolean;
  disconnected: boolean;
  priority: number;
  /** Replication offset the replica last reported. */
  offset: number;
  /** `master-link-status` (`ok` / `err`). */
  linkStatus: string;
  /** ms the replica's link to its primary has been down (0 when up). */
  linkDownTimeMs: number;
  /** The primary this replica follows, per its last INFO (`host:port`). */
  master: string;
  lastOkPingReplyMs: number | null;
  infoRefreshMs: number | null;
  roleReported: string | null;
}

/** Parses one entry of SENTINEL REPLICAS. */
export function parseSentinelReplica(reply: unknown): SentinelReplicaView {
  const r = sentinelRecord(reply);
  const flags = (r['flags'] ?? '').split(',').filter(Boolean);
  return {
    node: `${r['ip'] ?? ''}:${r['port'] ?? ''}`,
    runid: r['runid'] ?? '',
    flags,
    down: flags.includes('s_down') || flags.includes('o_down'),
    disconnected: flags.includes('disconnected'),
    priority: int(r['slave-priority']) ?? 100,
    offset: int(r['slave-repl-offset']) ?? 0,
    linkStatus: r['master-link-status'] ?? '',
    linkDownTimeMs: int(r['master-link-down-time']) ?? 0,
    master: `${r['master-host'] ?? ''}:${r['master-port'] ?? ''}`,
    lastOkPingReplyMs: int(r['last-ok-ping-reply']),
    infoRefreshMs: int(r['info-refresh']),
    roleReported: r['role-reported'] ?? null,
  };
}

/** Parses SENTINEL REPLICAS. */
export function parseSentinelReplicaList(reply: unknown): SentinelReplicaView[] {
  return Array.isArray(reply) ? reply.map(parseSentinelReplica) : [];
}

/** A peer Sentinel as another Sentinel sees it (an entry of SENTINEL SENTINELS <name>). */
export interface SentinelPeerView {
  node: string;
  runid: string;
  flags: string[];
  down: boolean;
  disconnected: boolean;
  /** ms since the last hello on the primary's channel. */
  lastHelloMs: number | null;
  lastOkPingReplyMs: number | null;
  votedLeader: string | null;
  votedLeaderEpoch: number | null;
}

/** Parses SENTINEL SENTINELS. */
export function parseSentinelPeers(reply: unknown): SentinelPeerView[] {
  return sentinelRecords(reply).map((r) => {
    const flags = (r['flags'] ?? '').split(',').filter(Boolean);
    const leader = r['voted-leader'];
    return {
      node: `${r['ip'] ?? ''}:${r['port'] ?? ''}`,
      runid: r['runid'] ?? '',
      flags,
      down: flags.includes('s_down') || flags.includes('o_down'),
      disconnected: flags.includes('disconnected'),
      lastHelloMs: int(r['last-hello-message']),
      lastOkPingReplyMs: int(r['last-ok-ping-reply']),
      votedLeader: leader === undefined || leader === '?' ? null : leader,
      votedLeaderEpoch: int(r['voted-leader-epoch']),
    };
  });
}

/** SENTINEL CKQUORUM, interpreted. */
export interface CkquorumResult {
  ok: boolean;
  /** Usable Sentinels counted (itself + peers not down). */
  usable: number | null;
  /** Enough usable Sentinels for the configured quorum (ODOWN can be reached). */
  quorumReachable: boolean;
  /** Enough for the majority that authorises a failover. */
  majorityReachable: boolean;
  message: string;
}

/**
 * Parses a CKQUORUM reply (`OK 3 usable Sentinels. …`) or its error (`NOQUORUM 1 usable
 * Sentinels. Not enough … quorum … Not enough … majority …`).
 */
export function parseCkquorum(text: string): CkquorumResult {
  const message = text.trim().replace(/^[-+]/, '');
  const ok = /^OK\b/.test(message);
  const usable = int(/(\d+) usable Sentinels/.exec(message)?.[1]);
  return {
    ok,
    usable,
    quorumReachable: ok || !/reach the specified quorum/.test(message),
    majorityReachable: ok || !/reach the majority/.test(message),
    message,
  };
}

/** INFO sentinel of one Sentinel. */
export interface SentinelInfo {
  tilt: boolean;
  tiltSinceSeconds: number | null;
  /** `masterN` lines: name → { status, address, replicas, sentinels }. */
  masters: Record<string, { status: string; address: string; replicas: number; sentinels: number }>;
}

/** Reads the `sentinel` section of INFO (from {@link parseInfo}). */
export function parseSentinelInfo(section: InfoSection | undefined): SentinelInfo {
  const masters: SentinelInfo['masters'] = {};
  for (const [k, v] of Object.entries(section ?? {})) {
    if (!/^master\d+$/.test(k)) continue;
    const kv = parseKv(v);
    if (!kv['name']) continue;
    masters[kv['name']] = { status: kv['status'] ?? '', address: kv['address'] ?? '', replicas: Number(kv['slaves'] ?? 0), sentinels: Number(kv['sentinels'] ?? 0) };
  }
  const since = int(section?.['sentinel_tilt_since_seconds']);
  return { tilt: section?.['sentinel_tilt'] === '1', tiltSinceSeconds: since !== null && since >= 0 ? since : null, masters };
}

/** Why Sentinel would not promote a replica (empty: eligible). */
export function ineligibility(r: SentinelReplicaView, master: Pick<SentinelMasterView, 'sDown' | 'sDownTimeMs' | 'downAfterMs'>): string[] {
  const why: string[] = [];
  if (r.down) why.push(`flagged ${r.flags.filter((f) => f === 's_down' || f === 'o_down').join(',')}`);
  if (r.disconnected) why.push('disconnected from Sentinel');
  if (r.priority === 0) why.push('replica-priority 0');
  if (r.lastOkPingReplyMs !== null && r.lastOkPingReplyMs > 5000) why.push(`no PING reply for ${r.lastOkPingReplyMs} ms`);
  const infoLimit = master.sDown ? 5000 : 30_000;
  if (r.infoRefreshMs !== null && r.infoRefreshMs > infoLimit) why.push(`INFO ${r.infoRefreshMs} ms old (> ${infoLimit})`);
  const maxLinkDown = (master.sDownTimeMs ?? 0) + 10 * master.downAfterMs;
  if (master.downAfterMs > 0 && r.linkDownTimeMs > maxLinkDown) why.push(`link to the primary down ${r.linkDownTimeMs} ms (> ${maxLinkDown}: too stale to elect)`);
  return why;
}

/** Replicas Sentinel could promote, best first: lower priority, then higher offset, then smaller runid. */
export function rankEligible(replicas: readonly SentinelReplicaView[], master: Pick<SentinelMasterView, 'sDown' | 'sDownTimeMs' | 'downAfterMs'>): SentinelReplicaView[] {
  return replicas
    .filter((r) => ineligibility(r, master).length === 0)
    .sort((a, b) => a.priority - b.priority || b.offset - a.offset || a.runid.localeCompare(b.runid));
}
