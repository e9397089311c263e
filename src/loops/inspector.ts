// The inspector: when the supervisor proposes a restart or a redeploy, it reads that service's
// containers on the node's engine (read-only; the same scope rule as the executor: only the
// containers services.yaml names) and stores the evidence beside the action. It never waits for
// the per-node action lock (that serialises changes only), has its own deadline, and never blocks
// a loop: the action is written first, the evidence follows (docs/design/executor.md).
import type { Action } from '../domain/actions.js';
import type { DesiredState, World } from '../domain/schemas.js';
import { EngineClients, explainDockerError, type EngineOptions } from '../docker/engine.js';
import { inspectContainer, MAX_LOG_LINES, reclaimable } from '../docker/inspect.js';
import { DeadlineError, engineDeadline } from '../errors.js';
import type { Logger } from '../log.js';
import type { Evidence, EvidenceStore } from '../store/evidence.js';
import { realClock, withDeadline, type Clock } from '../time/clock.js';

/** The most log lines a tail reads (the bot's /logs and `control-plane logs` take it from here). */
export { MAX_LOG_LINES };

/** How long the reads of one action's evidence may take. */
export const INSPECT_DEADLINE_MS = 10_000;

export interface InspectorDeps {
  desired: () => DesiredState;
  /** The world (what the agent reported of a node's disk). */
  world?: () => World;
  evidence: EvidenceStore;
  engineOptions: EngineOptions;
  log: Logger;
  /** Lines of logs kept per container (LOG_TAIL_LINES). */
  tailLines: number;
  clock?: Clock;
  /** The engine clients shared with the executor and the update checker (default: its own). */
  engines?: EngineClients;
  deadlineMs?: number;
  /** Told of each evidence file written (the bot shows it). */
  onStored?: (e: Evidence) => void;
}

export class Inspector {
  private readonly clock: Clock;
  private readonly underWay = new Set<Promise<void>>();
  /** The collection under way for each action (`id@instance`). */
  private readonly byAction = new Map<string, Promise<void>>();
  /** No new collection once stopping; nothing written once stopped. */
  private stopping = false;
  private stopped = false;

  private readonly clients: EngineClients;

  constructor(private readonly deps: InspectorDeps) {
    this.clock = deps.clock ?? realClock;
    this.clients = deps.engines ?? new EngineClients(deps.engineOptions);
  }

  /** Collects and stores the evidence of a new action in the background. */
  collect(a: Action): void {
    if (this.stopping) return;
    const key = `${a.id}@${a.instance}`;
    const run = this.evidenceFor(a)
      .then((e) => this.store(e))
      .catch((err: unknown) => this.deps.log.error({ err, id: a.id }, `could not store the evidence of ${a.id}`))
      .finally(() => {
        this.underWay.delete(run);
        this.byAction.delete(key);
      });
    this.underWay.add(run);
    this.byAction.set(key, run);
  }

  /**
   * Resolves once the evidence of `a` is stored (or its collection failed), at once when none is
   * under way, and after `withinMs` at most (an engine that does not answer the inspector must not
   * hold a repair): the executor waits for it, so that evidence shows the failure, not our repair.
   */
  async collected(a: Pick<Action, 'id' | 'instance'>, withinMs = 5000): Promise<void> {
    const run = this.byAction.get(`${a.id}@${a.instance}`);
    if (!run) return;
    const done = new AbortController();
    await Promise.race([run, this.clock.sleep(withinMs, done.signal)]).finally(() => done.abort());
  }

  /** Writes evidence beside its action (not once stopped). */
  async store(e: Evidence): Promise<void> {
    if (this.stopped) return;
    await this.deps.evidence.write(e);
    this.deps.onStored?.(e);
  }

  /** Reads an action's evidence again and stores it (Logs opened on old evidence). */
  async refresh(a: Action): Promise<Evidence> {
    const e = await this.evidenceFor(a);
    await this.store(e);
    return e;
  }

  /** A fresh tail of a service's containers, not stored (/logs, `control-plane logs`). */
  tail(node: string, service: string, lines: number): Promise<Evidence> {
    return this.evidenceFor({ id: `logs-${node}-${service}`, instance: 'now', node, service }, Math.min(lines, MAX_LOG_LINES));
  }

  /** Reads the evidence now (also for a fresh look when an admin opens old logs, or /logs). */
  async evidenceFor(a: Pick<Action, 'id' | 'instance' | 'node' | 'service'> & { type?: Action['type']; chain?: Action['chain'] }, tailLines = this.deps.tailLines): Promise<Evidence> {
    const base = { version: 1 as const, id: a.id, instance: a.instance, node: a.node, service: a.service ?? null };
    const dn = this.deps.desired()[a.node];
    if (a.type === 'disk_cleanup') return this.diskEvidence(base, dn);
    const service = a.service ? dn?.services[a.service] : undefined;
    if (!dn || !service) return { ...base, collected_at: new Date(this.clock.now()).toISOString(), containers: [], error: `${a.node}/${a.service ?? ''} is not in services.yaml: nothing was read` };
    try {
      const docker = this.clients.get(dn.docker);
      // A root's evidence shows its dependents too: what they look like while it is down.
      const names = [...new Set([...service.containers, ...(a.chain?.dependents ?? []).flatMap((d) => d.containers)])];
      const reads = Promise.all(names.map((c) => inspectContainer(docker, c, tailLines)));
      const containers = await this.withDeadline(reads, a.node);
      return { ...base, collected_at: new Date(this.clock.now()).toISOString(), containers };
    } catch (err) {
      const error = err instanceof DeadlineError ? err.message : explainDockerError(err, dn.docker, a.node);
      return { ...base, collected_at: new Date(this.clock.now()).toISOString(), containers: [], error };
    }
  }

  /** disk_cleanup: the agent's disk numbers and what a prune would reclaim. */
  private async diskEvidence(base: Omit<Evidence, 'collected_at' | 'containers'>, dn: DesiredState[string] | undefined): Promise<Evidence> {
    const n = this.deps.world?.().nodes[base.node];
    const reported = { used_pct: n?.disk_used_pct ?? null, pressure: n?.disk_pressure ?? null, reported_at: n?.disk_updated_at ?? null };
    const at = () => new Date(this.clock.now()).toISOString();
    if (!dn) return { ...base, collected_at: at(), containers: [], disk: { ...reported, reclaimable: null }, error: `${base.node} is not in hosts/: its engine was not asked` };
    try {
      const r = await this.withDeadline(reclaimable(this.clients.get(dn.docker)), base.node);
      return { ...base, collected_at: at(), containers: [], disk: { ...reported, reclaimable: r } };
    } catch (err) {
      const error = err instanceof DeadlineError ? err.message : explainDockerError(err, dn.docker, base.node);
      return { ...base, collected_at: at(), containers: [], disk: { ...reported, reclaimable: null }, error };
    }
  }

  private withDeadline<T>(p: Promise<T>, node: string): Promise<T> {
    const ms = this.deps.deadlineMs ?? INSPECT_DEADLINE_MS;
    return withDeadline(this.clock, ms, p, () => engineDeadline(node, ms));
  }

  /** Resolves once every collection under way has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.underWay.size > 0) await Promise.allSettled([...this.underWay]);
  }

  /** Takes nothing new; what is under way gets `budgetMs`, then is dropped unwritten. */
  async stop(budgetMs = 1000): Promise<void> {
    this.stopping = true;
    await Promise.race([this.idle(), this.clock.sleep(budgetMs)]);
    this.stopped = true;
  }
}

