/**
 * Pure parsers for Redis Cluster replies: the full CLUSTER NODES line (flags, master id,
 * ping/pong, config epoch, link state, slot ranges, the `[slot->-id]` / `[slot-<-id]` markers a
 * node prints on its own `myself` line) and CLUSTER INFO. Unit-tested on output captured from
 * real 7.0 clusters (test/fixtures/cluster-*.txt).
 */

/** Number of hash slots in a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** An inclusive range of hash slots. */
export interface SlotRange {
  start: number;
  end: number;
}

/** A migration marker on a node's own line: MIGRATING to `peerId` or IMPORTING from it. */
export interface SlotMarker {
  slot: number;
  state: 'migrating' | 'importing';
  /** The other end: the destination (migrating) or the source (importing). */
  peerId: string;
}

/** One line of CLUSTER NODES, fully parsed. */
export interface ClusterNodeEntry {
  id: string;
  /** `host:port` (the client port), host empty for a node without address. */
  addr: string;
  host: string;
  port: number;
  /** Cluster bus port (`@cport`), null when absent. */
  busPort: number | null;
  /** Announced hostname (`,hostname`), null when absent. */
  hostname: string | null;
  flags: string[];
  myself: boolean;
  master: boolean;
  replica: boolean;
  /** `fail`: the cluster agreed this node is down. */
  fail: boolean;
  /** `fail?`: this node's own suspicion (PFAIL). */
  pfail: boolean;
  handshake: boolean;
  noaddr: boolean;
  nofailover: boolean;
  /** Master id for replicas, null for masters. */
  masterId: string | null;
  /** ms epoch of the last PING sent still waiting for its PONG (0 = none pending). */
  pingSent: number;
  /** ms epoch of the last PONG received. */
  pongRecv: number;
  configEpoch: number;
  linkState: 'connected' | 'disconnected';
  slots: SlotRange[];
  slotCount: number;
  /** Open-slot markers (only ever on the `myself` line). */
  markers: SlotMarker[];
}

/** CLUSTER INFO, the fields the runbooks use plus every raw field. */
export interface ClusterInfo {
  state: string;
  slotsAssigned: number;
  slotsOk: number;
  slotsPfail: number;
  slotsFail: number;
  knownNodes: number;
  size: number;
  currentEpoch: number;
  myEpoch: number;
  raw: Record<string, string>;
}

function int(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** Parses one slot field: `5461`, `0-5460`, `[3300->-<id>]`, `[3300-<-<id>]`. */
export function parseSlotField(field: string): SlotRange | SlotMarker | null {
  const marker = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(field);
  if (marker) {
    return { slot: Number(marker[1]), state: marker[2] === '>' ? 'migrating' : 'importing', peerId: marker[3] ?? '' };
  }
  const range = /^(\d+)(?:-(\d+))?$/.exec(field);
  if (!range) return null;
  const start = Number(range[1]);
  const end = range[2] === undefined ? start : Number(range[2]);
  if (start > end || end >= CLUSTER_SLOTS) return null;
  return { start, end };
}

/** Parses `<host>:<port>@<cport>[,<hostname>]` (IPv6 hosts keep their colons). */
export function parseNodeAddress(field: string): { host: string; port: number; busPort: number | null; hostname: string | null } {
  const [addrPart = '', hostname] = field.split(',');
  const [hostPort = '', bus] = addrPart.split('@');
  const i = hostPort.lastIndexOf(':');
  const host = i < 0 ? '' : hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  return {
    host,
    port: i < 0 ? 0 : int(hostPort.slice(i + 1)),
    busPort: bus === undefined || bus === '' ? null : int(bus),
    hostname: hostname === undefined || hostname === '' ? null : hostname,
  };
}

/** Parses the whole CLUSTER NODES reply (LF or CRLF lines); lines with fewer than 8 fields are skipped. */
export function parseClusterNodesFull(text: string): ClusterNodeEntry[] {
  const out: ClusterNodeEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [id = '', addrField = '', flagField = '', master = '-', ping, pong, epoch, link] = f;
    const { host, port, busPort, hostname } = parseNodeAddress(addrField);
    const flags = flagField.split(',').filter((x) => x !== '');
    const slots: SlotRange[] = [];
    const markers: SlotMarker[] = [];
    for (const s of f.slice(8)) {
      const p = parseSlotField(s);
      if (p === null) continue;
      if ('state' in p) markers.push(p);
      else slots.push(p);
    }
    out.push({
      id,
      addr: host === '' || port === 0 ? '' : `${host}:${port}`,
      host,
      port,
      busPort,
      hostname,
      flags,
      myself: flags.includes('myself'),
      master: flags.includes('master'),
      replica: flags.includes('slave'),
      fail: flags.includes('fail'),
      pfail: flags.includes('fail?'),
      handshake: flags.includes('handshake'),
      noaddr: flags.includes('noaddr'),
      nofailover: flags.includes('nofailover'),
      masterId: master === '-' ? null : master,
      pingSent: int(ping),
      pongRecv: int(pong),
      configEpoch: int(epoch),
      linkState: link === 'connected' ? 'connected' : 'disconnected',
      slots,
      slotCount: slots.reduce((n, r) => n + r.end - r.start + 1, 0),
      markers,
    });
  }
  return out;
}

/** Parses CLUSTER INFO (`key:value` lines). */
export function parseClusterInfo(text: string): ClusterInfo {
  const raw: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) raw[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return {
    state: raw['cluster_state'] ?? 'unknown',
    slotsAssigned: int(raw['cluster_slots_assigned']),
    slotsOk: int(raw['cluster_slots_ok']),
    slotsPfail: int(raw['cluster_slots_pfail']),
    slotsFail: int(raw['cluster_slots_fail']),
    knownNodes: int(raw['cluster_known_nodes']),
    size: int(raw['cluster_size']),
    currentEpoch: int(raw['cluster_current_epoch']),
    myEpoch: int(raw['cluster_my_epoch']),
    raw,
  };
}

/** True when `slot` is in one of `ranges`. */
export function inRanges(ranges: readonly SlotRange[], slot: number): boolean {
  return ranges.some((r) => slot >= r.start && slot <= r.end);
}

/** Sorted slot numbers → minimal ranges. */
export function toRanges(slots: Iterable<number>): SlotRange[] {
  const sorted = [...new Set(slots)].sort((a, b) => a - b);
  const out: SlotRange[] = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s === last.end + 1) last.end = s;
    else out.push({ start: s, end: s });
  }
  return out;
}

/** Ranges as Redis prints them: `0-5460 5462`. */
export function rangesText(ranges: readonly SlotRange[]): string {
  return ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`)).join(' ');
}

/** Slot → owner id as one node's view says (masters only; a `fail` master still owns its slots). */
export function slotOwners(view: readonly ClusterNodeEntry[]): Array<string | null> {
  const owners: Array<string | null> = new Array<string | null>(CLUSTER_SLOTS).fill(null);
  for (const n of view) {
    if (!n.master) continue;
    for (const r of n.slots) for (let s = r.start; s <= r.end; s++) owners[s] = n.id;
  }
  return owners;
}

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The hash slot of a key (CRC16-XMODEM of the `{hash tag}` or the whole key, mod 16384). */
export function keyHashSlot(key: string): number {
  let k = Buffer.from(key, 'utf8');
  const open = k.indexOf(0x7b);
  if (open >= 0) {
    const close = k.indexOf(0x7d, open + 1);
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  let crc = 0;
  for (const b of k) crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >> 8) ^ b) & 0xff] ?? 0);
  return crc % CLUSTER_SLOTS;
}
