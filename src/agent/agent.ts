// The node agent: watches its node's Docker Engine and disks and writes events, to a local
// events directory or to a control plane's ingest route (with a disk spool while it is away).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import type { DesiredNode } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { Runner } from '../loops/runner.js';
import { linksOf } from './links.js';
import { backoffDelay, RETRY_POLICIES, withRetries } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';
import { readAgentState, writeAgentState, type AgentState, type ServiceVerdict } from '../store/agent-state.js';


export interface AgentEvent {
  ts: string;
  node: string;
  type: string;
  service?: string;
  detail?: Record<string, unknown>;
  seq: number;
  /** This agent instance (docs/design/observer.md: an event is node + agent + seq). */
  agent: string;
}

/** Where events go. */
export interface EventSink {
  write(events: AgentEvent[]): Promise<void>;
}

export interface AgentOptions {
  node: string;
  desired: () => DesiredNode;
  docker: Docker;
  sink: EventSink;
  stateDir: string;
  log: Logger;
  intervalMs: number;
  diskPaths: string[];
  /** Time and timers (default: the real clock). */
  clock?: Clock;
  /** A full refresh (every status again) this often. */
  refreshMs?: number;
  /** One inspection and exit (`agent --once`): its heartbeat says so, and never counts as a second agent. */
  once?: boolean;
  /** The instance id (default: new random at each start). */
  instance?: string;
}

/** A new agent instance id: 8 hex digits, new at each start. */
export function newAgentInstance(): string {
  return randomBytes(4).toString('hex');
}

/**
 * Whether an engine event can change what the agent reports: a container it watches (by name),
 * anything but an exec (health checks run one every few seconds). An event it cannot read counts.
 */
export function eventMatters(line: string, watched: ReadonlySet<string>): boolean {
  let e: { Action?: unknown; status?: unknown; Actor?: { Attributes?: { name?: unknown } } };
  try {
    e = JSON.parse(line) as typeof e;
  } catch {
    return true;
  }
  const action = String(e.Action ?? e.status ?? '');
  if (action.startsWith('exec_')) return false;
  const name = e.Actor?.Attributes?.name;
  return typeof name !== 'string' || watched.has(name);
}

const HIGH_PCT = 90;
const NORMAL_PCT = 85;

/** What a service's containers say about it. */
export function verdictOf(infos: (Docker.ContainerInspectInfo | undefined)[]): { verdict: ServiceVerdict; detail: Record<string, unknown> } {
  const notRunning: string[] = [];
  const restarting: string[] = [];
  const unhealthy: string[] = [];
  let starting = false;
  infos.forEach((info, i) => {
    const name = info?.Name?.replace(/^\//, '') ?? `#${i}`;
    if (!info) return void notRunning.push(name);
    if (info.State.Restarting) return void restarting.push(name);
    if (!info.State.Running) return void notRunning.push(name);
    const h = info.State.Health?.Status;
    if (h === 'unhealthy') unhealthy.push(name);
    else if (h === 'starting') starting = true;
  });
  if (notRunning.length) return { verdict: 'containers_not_running', detail: { containers: notRunning } };
  if (restarting.length) return { verdict: 'container_restarting', detail: { containers: restarting } };
  if (unhealthy.length) return { verdict: 'healthcheck_failed', detail: { containers: unhealthy } };
  if (starting) return { verdict: 'starting', detail: {} };
  return { verdict: 'healthy', detail: {} };
}

export class Agent {
  private state: AgentState = { version: 1, seq: 0, services: {}, disk: {} };
  private eventsStream: NodeJS.ReadableStream | undefined;
  private stopped = true;
  private lastRefresh = 0;
  /** When the last heartbeat was written (a heartbeat at most every interval). */
  private lastBeat = Number.NEGATIVE_INFINITY;
  private lastEngineOk: boolean | undefined;
  /** Engine events that could not change anything (execs, containers not watched), counted. */
  readonly ignoredEvents = { count: 0 };
  private partial = '';
  private lastEventAt: number;
  private readonly clock: Clock;
  /** Inspections run as a Runner's passes: every interval, at once on an engine event, never two at once. */
  private readonly loop: Runner;
  private readonly abort = new AbortController();
  private following: Promise<void> | undefined;
  readonly stats = { passes: 0, emitted: 0, dockerErrors: 0 };
  /** This run's instance id, on every event it writes. */
  readonly instance: string;

  constructor(private readonly o: AgentOptions) {
    this.instance = o.instance ?? newAgentInstance();
    this.clock = o.clock ?? realClock;
    this.lastEventAt = Math.floor(this.clock.now() / 1000);
    this.loop = new Runner('agent', o.intervalMs, () => this.passOnce(), o.log, this.clock);
  }

  private now(): number {
    return this.clock.now();
  }

  private get stateFile(): string {
    return path.join(this.o.stateDir, 'agent-state.json');
  }

  async init(): Promise<void> {
    const saved = await readAgentState(this.stateFile, this.o.log);
    if (saved) this.state = saved;
    // A seq that survives restarts and even a lost state file: never below the clock in µs.
    this.state.seq = Math.max(this.state.seq, this.now() * 1000);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.pass();
    this.following = this.follow();
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    (this.eventsStream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    await this.loop.stop();
    await this.following;
  }

  /**
   * Follows the engine's event stream; any container event triggers a pass. Connects with
   * RETRY_POLICIES.engineEvents (the backoff starts again after each connection) and reconnects
   * with `since` when a stream ends.
   */
  private async follow(): Promise<void> {
    const connect = async () => (await this.o.docker.getEvents({ since: this.lastEventAt, filters: { type: ['container'] } })) as NodeJS.ReadableStream;
    while (!this.stopped) {
      const stream = await withRetries(connect, {
        isRetryable: () => !this.stopped,
        clock: this.clock,
        signal: this.abort.signal,
        policy: RETRY_POLICIES.engineEvents,
        onRetry: (err) => {
          this.stats.dockerErrors++;
          this.o.log.warn({ err }, 'cannot follow Docker events; inspecting on the interval meanwhile');
        },
      }).catch(() => undefined);
      if (!stream || this.stopped) return;
      this.eventsStream = stream;
      await this.consume(stream);
      // A stream that ends at once again and again must not spin: the policy's first delay.
      if (!this.stopped) await this.clock.sleep(backoffDelay(1, RETRY_POLICIES.engineEvents), this.abort.signal);
    }
  }

  /** Reads one event stream until it ends; events about watched containers kick a pass. */
  private consume(stream: NodeJS.ReadableStream): Promise<void> {
    return new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer | string) => {
        this.lastEventAt = Math.floor(this.now() / 1000);
        // One JSON object per line; only events about watched containers start a pass.
        const text = this.partial + chunk.toString();
        const lines = text.split('\n');
        this.partial = lines.pop() ?? '';
        const watched = new Set(Object.values(this.o.desired().services).flatMap((sv) => (sv.monitor ? sv.containers : [])));
        let kick = false;
        for (const line of lines) {
          if (line.trim() === '') continue;
          if (eventMatters(line, watched)) kick = true;
          else this.ignoredEvents.count++;
        }
        if (kick) this.loop.kick();
      });
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', resolve);
    });
  }

  /** One inspection now (also for `--once` and tests); waits for one under way first. */
  async pass(): Promise<void> {
    // A failed pass is logged by the runner; the next one tries again.
    await this.loop.runNow().catch(() => {});
  }

  /** Inspects every monitored service and the disks; emits what changed (and a heartbeat). */
  private async passOnce(): Promise<void> {
    const now = this.now();
    const ts = new Date(now).toISOString();
    const full = now - this.lastRefresh >= (this.o.refreshMs ?? 600_000);
    const desired = this.o.desired();
    const { events: out, engineOk: inspected } = await this.serviceEvents(desired, ts, full);
    out.push(...(await this.diskEvents(ts, full)));
    // With nothing to inspect, the engine is asked directly: the heartbeat must not guess.
    const engineOk = Object.values(desired.services).some((s) => s.monitor)
      ? inspected
      : await Promise.resolve()
          .then(() => this.o.docker.ping())
          .then(
            () => true,
            () => false,
          );
    // A heartbeat at most every interval (a pass an engine event started adds none), and at once
    // when the engine's state changed.
    if (now - this.lastBeat >= this.o.intervalMs * 0.9 || engineOk !== this.lastEngineOk) {
      const beat = { engine: engineOk ? 'ok' : 'unreachable', ...(this.o.once ? { once: true } : { interval_s: Math.round(this.o.intervalMs / 100) / 10 }) };
      out.push({ ts, node: this.o.node, type: 'node_heartbeat', detail: beat });
      this.lastBeat = now;
      this.lastEngineOk = engineOk;
    }
    if (full) this.lastRefresh = now;
    if (out.length > 0) {
      const events = out.map((e) => ({ ...e, seq: ++this.state.seq, agent: this.instance }));
      // The seq is saved before anything leaves, so a restart never reuses one.
      await writeAgentState(this.stateFile, this.state);
      await this.o.sink.write(events);
      this.stats.emitted += events.length;
    }
    this.stats.passes++;
  }

  /** Each watched service whose verdict or links changed (or all of them on a full refresh). */
  private async serviceEvents(desired: DesiredNode, ts: string, full: boolean): Promise<{ events: Omit<AgentEvent, 'seq' | 'agent'>[]; engineOk: boolean }> {
    const out: Omit<AgentEvent, 'seq' | 'agent'>[] = [];
    let engineOk = true;
    const inspect = (ref: string) =>
      this.o.docker
        .getContainer(ref)
        .inspect()
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode === 404) return undefined;
          throw err;
        });
    const all = new Map<string, (Docker.ContainerInspectInfo | undefined)[]>();
    for (const s of Object.values(desired.services)) {
      if (!s.monitor) continue;
      try {
        all.set(s.service, await Promise.all(s.containers.map(inspect)));
      } catch (err) {
        engineOk = false;
        this.stats.dockerErrors++;
        this.o.log.warn({ err, service: s.service }, 'cannot inspect containers');
      }
    }
    const links = await linksOf(desired, all, async (id) => (await inspect(id).catch(() => undefined))?.Name?.replace(/^\//, ''));
    for (const [service, infos] of all) {
      const { verdict, detail } = verdictOf(infos);
      if (verdict === 'starting') continue;
      const prev = this.state.services[service];
      // New containers (a recreate, an image update) are reported once they settle, even with the
      // same verdict: the control plane's verification waits for a report made after them.
      const instances = infos.map((i) => (i ? `${i.Id ?? ''}@${i.State.StartedAt ?? ''}` : '-')).join(',');
      const renewed = verdict === 'healthy' && this.state.instances?.[service] !== undefined && this.state.instances[service] !== instances;
      (this.state.instances ??= {})[service] = instances;
      // What it depends on, as the engine tells: reported when it changes (an empty list clears it).
      const mine = links.get(service) ?? [];
      const linkKey = JSON.stringify(mine);
      const relinked = (this.state.links?.[service] ?? '[]') !== linkKey;
      (this.state.links ??= {})[service] = linkKey;
      if (prev === verdict && !full && !renewed && !relinked) continue;
      const type = verdict === 'healthy' ? (prev && prev !== 'healthy' ? 'service_recovered' : 'service_healthy') : verdict;
      const withLinks = mine.length || relinked ? { ...detail, links: mine } : detail;
      out.push({ ts, node: this.o.node, type, service, ...(Object.keys(withLinks).length ? { detail: withLinks } : {}) });
      this.state.services[service] = verdict;
    }
    return { events: out, engineOk };
  }

  /** Each disk path whose pressure level changed (or all of them on a full refresh). */
  private async diskEvents(ts: string, full: boolean): Promise<Omit<AgentEvent, 'seq' | 'agent'>[]> {
    const out: Omit<AgentEvent, 'seq' | 'agent'>[] = [];
    for (const p of this.o.diskPaths) {
      try {
        const st = await fs.statfs(p);
        const used = st.blocks > 0 ? Math.round((1 - st.bavail / st.blocks) * 1000) / 10 : 0;
        const prev = this.state.disk[p] ?? 'normal';
        const level = used >= HIGH_PCT ? 'high' : used < NORMAL_PCT ? 'normal' : prev;
        if (level !== this.state.disk[p] || full) {
          out.push({ ts, node: this.o.node, type: 'disk_pressure', detail: { level, used_pct: used, path: p } });
          this.state.disk[p] = level;
        }
      } catch (err) {
        this.o.log.warn({ err, path: p }, 'cannot read disk usage');
      }
    }
    return out;
  }
}
