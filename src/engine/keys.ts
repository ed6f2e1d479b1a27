/**
 * Every Redis key the engine owns is built here, and nowhere else. Keys of one incident share a
 * hash tag so the Lua compare-and-set works on Redis Cluster too.
 */
export interface Keys {
  incident(id: string): string;
  timeline(id: string): string;
  intent(id: string, proposalKey: string): string;
  /** All incidents, scored by creation time (ms). */
  incidents: string;
  /** Open incidents, scored by creation time (ms). */
  open: string;
  fingerprint(fp: string): string;
  openFor(runbook: string, target: string): string;
  dedup(fp: string, startsAt: string, status: string): string;
  lock(target: string): string;
  runbookDef(hash: string): string;
  /** Slack root message of an incident: hash { channel, ts, claimedAt, rendered }. */
  slackMessage(id: string): string;
  /** Stream id of the last timeline entry posted into the incident's Slack thread. */
  slackCursor(id: string): string;
  /** Short per-incident lock held while one process syncs the incident to Slack. */
  slackLock(id: string): string;
  /** Set (with a TTL) while Slack asked us to back off (429 Retry-After, 5xx): syncs wait. */
  slackPause: string;
  /** Set of the webhook dedup keys of the firing alerts an incident took in (released when it resolves). */
  incidentDedup(id: string): string;
  /** Circuit breaker: remediations of a runbook on a target, scored by when they started (ms). */
  breaker(target: string, runbook: string): string;
  /** Crash tests only: set when a worker hung an incident at a fault point (`engine.faultInjection.hang`). */
  faultHung(id: string): string;
  /** The last incident closed as resolved while this fingerprint was part of it (24 h). */
  closedFor(fp: string): string;
  /** Counter (with a TTL: the window) of refused approval attempts recorded for an incident. */
  refusals(id: string): string;
  /** Hygiene findings of a target: hash `<check>|<key>` → finding with its history (JSON). */
  hygiene(target: string): string;
  /** Hygiene check state between runs (e.g. memory readings for growth): hash `<check>` → JSON. */
  hygieneState(target: string): string;
  /** The last run of each hygiene check on a target: hash `<check>` → JSON. */
  hygieneRuns(target: string): string;
}

export function makeKeys(prefix: string): Keys {
  const p = prefix;
  return {
    incident: (id) => `${p}:inc:{${id}}`,
    timeline: (id) => `${p}:inc:{${id}}:timeline`,
    intent: (id, key) => `${p}:inc:{${id}}:intent:${key}`,
    incidents: `${p}:incidents`,
    open: `${p}:incidents:open`,
    fingerprint: (fp) => `${p}:fp:${fp}`,
    openFor: (runbook, target) => `${p}:open:${runbook}:${target}`,
    dedup: (fp, startsAt, status) => `${p}:dedup:${fp}:${startsAt}:${status}`,
    lock: (target) => `${p}:lock:${target}`,
    runbookDef: (hash) => `${p}:runbook:${hash}`,
    slackMessage: (id) => `${p}:inc:{${id}}:slack`,
    slackCursor: (id) => `${p}:inc:{${id}}:slack:cursor`,
    slackLock: (id) => `${p}:inc:{${id}}:slack:lock`,
    slackPause: `${p}:slack:pause`,
    refusals: (id) => `${p}:inc:{${id}}:refusals`,
    incidentDedup: (id) => `${p}:inc:{${id}}:dedup`,
    closedFor: (fp) => `${p}:closed:${fp}`,
    breaker: (target, runbook) => `${p}:breaker:${target}:${runbook}`,
    faultHung: (id) => `${p}:fault:hung:${id}`,
    hygiene: (target) => `${p}:hygiene:{${target}}`,
    hygieneState: (target) => `${p}:hygiene:{${target}}:state`,
    hygieneRuns: (target) => `${p}:hygiene:{${target}}:runs`,
  };
}
