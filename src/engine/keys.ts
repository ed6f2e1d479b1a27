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
  };
}
