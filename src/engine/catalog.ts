/**
 * The runbooks this process knows: the current ones by name, and any older version (by content
 * hash) that open incidents still run on — stored in the store when an incident opens, so a
 * changed runbook never breaks a restored snapshot.
 */
import type { CompiledRunbook, LoadDeps } from './runbook/load.js';
import { compileRunbookValue } from './runbook/load.js';
import type { IncidentStore } from './store/incidents.js';

export class RunbookCatalog {
  private readonly byName = new Map<string, CompiledRunbook>();
  private readonly hashes = new Map<string, CompiledRunbook>();

  constructor(
    runbooks: CompiledRunbook[],
    private readonly deps: LoadDeps,
  ) {
    for (const rb of runbooks) {
      this.byName.set(rb.def.name, rb);
      this.hashes.set(rb.hash, rb);
    }
  }

  get(name: string): CompiledRunbook | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  all(): CompiledRunbook[] {
    return [...this.byName.values()];
  }

  /** Routing view: each runbook's own alert matchers. */
  matchers(): { name: string; match: { alertname?: string; labels?: Record<string, string> }[] }[] {
    return this.all().map((rb) => ({ name: rb.def.name, match: rb.def.match }));
  }

  /** The version with this hash, if this process has it compiled already (no I/O). */
  cached(hash: string): CompiledRunbook | undefined {
    return this.hashes.get(hash);
  }

  /** The exact version an incident was opened with. */
  async byHash(hash: string, store: IncidentStore): Promise<CompiledRunbook | undefined> {
    const hit = this.hashes.get(hash);
    if (hit) return hit;
    const def = await store.loadRunbookDef(hash);
    if (def === undefined) return undefined;
    const rb = compileRunbookValue(def, `store:runbook:${hash}`, { ...this.deps, stored: true });
    const stored = { ...rb, hash };
    this.hashes.set(hash, stored);
    return stored;
  }
}
