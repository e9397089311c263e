// The observer: tails every node's event log and publishes world state. Crash consistency: the
// checkpoint file holds the read positions *and* the model they produced, written in one atomic
// rename. World files are rendered from that model and written before the checkpoint. After a
// crash the world files may be ahead of the checkpoint, never behind it: the restart re-reads
// from the checkpoint's positions, reaches the same model, and rewrites the world.
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import { AGENT_FORGET_MS, emptyModel, forgetSilentAgents, shareNoChanges, type ObserveConfig, type RenderConfig } from '../domain/observe.js';
import { forgetGonePositions, type Model } from './event-sink.js';
import { readNodeChunk } from './event-reader.js';
import { bytesToRead, parallelReplayAvailable, replayInParallel } from './parallel-replay.js';
import type { DesiredState, World } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { removeStaleTemps } from '../store/atomic.js';
import { writeWorldStep, type WorldStep } from '../store/world.js';
import type { Chunks } from '../store/grouped-json.js';
import type { EventFile, FilePos } from '../store/events.js';
import { EventHints } from './event-hints.js';
import { CHECKPOINT_VERSION, readCheckpoint, type Checkpoint } from '../store/checkpoint.js';
import { LARGE_WRITE_AFTER_MS, ObserverTexts, PERSIST_MS, persistGap } from './observer-texts.js';
import { readEventsSnapshot } from '../store/events-snapshot.js';
import type { Layout } from '../store/paths.js';
import { realClock, type Clock } from '../time/clock.js';
import { ObserverReports } from './observer-reports.js';
import { FreshServices, WorldRenderer } from '../domain/world-render.js';

export interface ObserverDeps {
  layout: Layout;
  config: ObserveConfig & RenderConfig & { observerChunkBytes: number; reconcileIntervalS?: number };
  log: Logger;
  now: () => number;
  desired: () => DesiredState;
  /** Timers (the trailing write of the world files); default the real clock. */
  clock?: Clock;
  /**
   * A full replay of at least `minBytes` is read by `workers` threads (parallel-replay.ts); default
   * up to 4 (the cores there are) from 32 MiB. Workers below 2 read it in this thread.
   */
  parallelReplay?: { workers: number; minBytes: number };
  /** The files' write budget (bytes a second, PERSIST_BYTES_PER_S). */
  persistBytesPerS?: number;
}

export interface PassStats {
  bytes: number;
  lines: number;
  applied: number;
  malformed: number;
  rounds: number;
}

/** How often a pass that read nothing renders the world anyway (for clock-driven changes). */
const IDLE_RENDER_MS = 1000;

export class Observer {
  private model: Model = { ...emptyModel(), malformed_by_node: {} };
  /** Service objects made since the last publish: no world holds them yet (docs/design/observer.md). */
  private fresh = new FreshServices();
  /** Renders what changed since the last render (world-render.ts). */
  readonly renderer = new WorldRenderer();
  /** node → day → position */
  private positions: Record<string, Record<string, FilePos>> = {};
  private world: World = { services: {}, nodes: {} };
  private readonly fingerprint: string;
  /** Lines read since this process started (a resumed start reads none of the old ones). */
  readonly totals = { bytes: 0, lines: 0, passes: 0, publishes: 0 };
  /** Positions moved since the checkpoint was last written (a failed write is retried). */
  private checkpointDirty = false;
  /** When the world was last rendered (ms): a pass that read nothing renders it at most once a second. */
  private renderedAt = Number.NEGATIVE_INFINITY;
  private listeners: ((world: World) => void)[] = [];
  private replayRequested = false;
  /** The world in memory is newer than the world files. */
  private worldDirty = false;
  private persistedAt = Number.NEGATIVE_INFINITY;
  /** The least time between two writes (persistGap). */
  private persistGapMs = PERSIST_MS;
  private cancelPersist: (() => void) | undefined;
  /** Writes of the files, one after another (a pass's publish and the trailing timer). */
  private persisting: Promise<void> = Promise.resolve();
  private inPass = false;
  /** The last write of the files failed: passes wait for theirs (and fail with it). */
  private writeFailed = false;
  /** The read positions in the checkpoint last written (or loaded): what retention may remove. */
  private persistedPositions: Record<string, Record<string, FilePos>> = {};
  /** Passes and retention's removals take turns (exclusive). */
  private gate: Promise<unknown> = Promise.resolve();
  /** The next pass reads everything from the snapshot (or nothing): a replay, which may run in parallel. */
  private replaying = false;
  /** What reading and the passes say: malformed lines, duplicates, agents running at once (observer-reports.ts). */
  private readonly reports: ObserverReports;

  constructor(private readonly deps: ObserverDeps) {
    const aliases = Object.entries(deps.config.aliases).sort(([a], [b]) => (a < b ? -1 : 1));
    this.fingerprint = JSON.stringify({ v: CHECKPOINT_VERSION, aliases });
    this.reports = new ObserverReports(deps.log, () => deps.now());
    this.eventHints = new EventHints(deps.layout.events, (deps.config.reconcileIntervalS ?? 30) * 1000);
  }
  /** Which node files a pass reads: what the watcher named, or all of them (event-hints.ts). */
  readonly eventHints: EventHints;

  /** Starts from no checkpoint at all: the next pass replays every event. */
  async initFresh(): Promise<void> {
    await this.init(true);
  }

  /** Loads the checkpoint (or starts empty) and cleans up what a crash left behind. */
  async init(fresh = false): Promise<void> {
    const { layout, log } = this.deps;
    for (const dir of [layout.world, layout.state]) {
      const removed = await removeStaleTemps(dir);
      if (removed.length) log.info({ dir, removed }, 'removed temp files left by an interrupted write');
    }
    const cp = fresh ? undefined : await this.loadCheckpoint();
    if (cp) {
      this.positions = cp.positions;
      this.model = cp.model as Model;
      shareNoChanges(this.model.services);
      this.persistedPositions = structuredClone(cp.positions);
    } else await this.startFromSnapshot();
    for (const [key, file] of [
      ['services', layout.worldServices],
      ['nodes', layout.worldNodes],
    ] as const) {
      this.texts.written[key] = await fs.readFile(file, 'utf8').catch(() => '');
    }
  }

  private async loadCheckpoint(): Promise<Checkpoint | undefined> {
    const cp = await readCheckpoint(this.deps.layout.checkpoint, this.deps.log);
    if (cp && cp.fingerprint !== this.fingerprint) {
      this.deps.log.info('NODE_ALIAS_MAP changed since the checkpoint; replaying all events');
      return undefined;
    }
    return cp;
  }

  /**
   * The model and positions of the events snapshot, when retention has made one (else empty):
   * what a replay starts from before it reads the days still kept (docs/design/files.md).
   */
  private async startFromSnapshot(): Promise<void> {
    this.replaying = true;
    const snap = await readEventsSnapshot(this.deps.layout.eventsSnapshot, this.deps.log);
    this.model = snap ? (snap.model as Model) : { ...emptyModel(), malformed_by_node: {} };
    shareNoChanges(this.model.services);
    this.positions = snap ? snap.positions : {};
    this.texts.changedAll();
    if (!snap) return;
    if (snap.fingerprint !== this.fingerprint) {
      this.deps.log.warn({ through: snap.through }, `the events snapshot (through ${snap.through}) was read with another NODE_ALIAS_MAP: its nodes are kept as it has them`);
    }
    this.deps.log.info({ from: snap.from, through: snap.through }, `starting from the events snapshot (the days ${snap.from} to ${snap.through} retention removed), then the days kept`);
  }

  /** The observer's fingerprint: the checkpoint and the snapshot are read with it. */
  get configFingerprint(): string {
    return this.fingerprint;
  }

  /** node → day → position, as the last written checkpoint has them: what is safely applied. */
  persisted(): Readonly<Record<string, Readonly<Record<string, Readonly<FilePos>>>>> {
    return this.persistedPositions;
  }

  /** node → day → position read so far (in memory). */
  readPositions(): Readonly<Record<string, Readonly<Record<string, Readonly<FilePos>>>>> {
    return this.positions;
  }

  /** Runs `fn` between passes: no pass starts until it is done (retention's removals). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.gate.then(fn);
    this.gate = run.catch(() => {});
    return run;
  }

  /** The next pass forgets the checkpoint and reads every event again ("replay world"). */
  requestReplay(): void {
    this.replayRequested = true;
  }

  /** What the last pass did. */
  lastPass: PassStats | undefined;

  onPublish(fn: (world: World) => void): void {
    this.listeners.push(fn);
  }

  /** The desired state changed: the next pass renders the world even if it reads nothing. */
  invalidate(): void {
    this.renderedAt = Number.NEGATIVE_INFINITY;
  }

  current(): World {
    return this.world;
  }

  counters(): Readonly<Model['counters']> & { malformed_by_node: Readonly<Record<string, number>> } {
    return { ...this.model.counters, malformed_by_node: this.model.malformed_by_node };
  }

  /**
   * Reads every node's new complete lines, one chunk per node per round so that one node's
   * backlog never delays another's, and publishes after each round. Always publishes at least
   * once, so that clock-driven changes (agent silent, pruning) reach the world files.
   */
  pass(): Promise<PassStats> {
    return this.exclusive(async () => {
      this.inPass = true;
      try {
        return await this.passNow();
      } finally {
        this.inPass = false;
      }
    });
  }

  private async passNow(): Promise<PassStats> {
    const { log } = this.deps;
    const stats: PassStats = { bytes: 0, lines: 0, applied: 0, malformed: 0, rounds: 0 };
    log.trace('observer pass started');
    if (this.replayRequested) {
      this.replayRequested = false;
      log.warn('replaying all events from the start, as an operator asked');
      await this.startFromSnapshot();
    }
    if (this.replaying) this.eventHints.sweep();
    const { files, nodes, swept } = await this.eventHints.next(this.deps.now());
    let moved = swept && forgetGonePositions(this.positions, files);
    if (moved) this.texts.changedAll();
    if (this.replaying) {
      this.replaying = false;
      if (await this.replayInParallel(files, stats)) moved = true;
    }
    const done = new Set<string>();
    while (done.size < nodes.length) {
      stats.rounds++;
      for (const node of nodes) {
        if (done.has(node)) continue;
        this.texts.touched(node);
        const pending = await readNodeChunk({ model: this.model, positions: this.positions, fresh: this.fresh }, node, files.get(node)!, stats, this.deps.config, this.deps.now(), this.reports.read);
        if (pending.moved) moved = true;
        if (!pending.more) done.add(node);
      }
      if (done.size < nodes.length) await this.publish(moved, true);
    }
    // A pass that read nothing only brings clock-driven changes (an agent turning silent, pruning),
    // which have second granularity: a burst of file-watch hints does not render the world again
    // and again (docs/design/observer.md).
    const forgotten = forgetSilentAgents(this.model, new Date(this.deps.now() - AGENT_FORGET_MS).toISOString());
    if (forgotten > 0) {
      this.texts.changedAll();
      log.info({ forgotten }, `forgot the sequence state of ${forgotten} agent instance(s) not heard of for 24 h`);
    }
    if (stats.lines > 0 || moved || this.deps.now() - this.renderedAt >= IDLE_RENDER_MS) await this.publish(moved || forgotten > 0, stats.lines > 0);
    this.reports.logDuplicates(this.model.counters.duplicate);
    this.reports.logFuture();
    this.reports.logAgentsRunning(this.world);
    this.totals.bytes += stats.bytes;
    this.totals.lines += stats.lines;
    this.totals.passes++;
    if (stats.lines > 0) log.debug({ ...stats }, 'observer pass');
    this.lastPass = stats;
    return stats;
  }

  /**
   * A replay with enough to read, in worker threads (docs/design/observer.md). Returns whether it
   * ran; when it cannot (a worker failed), what it took is put back and the pass reads as always.
   */
  private async replayInParallel(files: Map<string, EventFile[]>, stats: PassStats): Promise<boolean> {
    const opts = this.deps.parallelReplay ?? { workers: Math.min(4, availableParallelism()), minBytes: 32 * 1024 * 1024 };
    if (opts.workers < 2 || !parallelReplayAvailable() || bytesToRead(files, this.positions) < opts.minBytes) return false;
    const started = performance.now();
    const before = structuredClone({ model: this.model, positions: this.positions });
    try {
      const state = { model: this.model, positions: this.positions };
      // The model changes in place, without `fresh`: the next render is whole.
      this.renderer.reset();
      const r = await replayInParallel(files, state, this.deps.config, this.deps.now(), opts.workers, { ...this.reports.read, saidSoFar: (file) => this.reports.saidSoFar(file) });
      for (const k of ['bytes', 'lines', 'applied', 'malformed'] as const) stats[k] += r[k];
      this.deps.log.info({ workers: opts.workers, ...r, seconds: Math.round((performance.now() - started) / 100) / 10 }, `replayed ${r.applied} events in ${opts.workers} worker threads`);
      return true;
    } catch (err) {
      this.model = before.model;
      this.positions = before.positions;
      this.texts.changedAll();
      this.deps.log.warn({ err }, 'the parallel replay failed; replaying in this thread');
      return false;
    }
  }

  /**
   * Renders the world and tells the listeners when it changed (lines were read, or a clock-driven
   * change showed), then writes the world files (when they changed) and the checkpoint (when it
   * moved) — at once when the last write is PERSIST_MS old, else shortly after, in one trailing
   * write. The files are never behind the checkpoint: they are written first, in the same step.
   */
  async publish(checkpointMoved: boolean, linesRead = true): Promise<void> {
    const { config, now, desired } = this.deps;
    if (checkpointMoved) this.checkpointDirty = true;
    this.renderedAt = now();
    this.world = this.renderer.render(this.model, desired(), config, this.renderedAt, this.fresh);
    this.texts.rendered(this.renderer.lastChange);
    for (const node of this.fresh.nodes) this.texts.touched(node);
    // The world now shares every service object: from here on, a change copies it first.
    this.fresh = new FreshServices();
    // With lines read the world has moved; without, only a clock-driven change can show, and the
    // comparison with what was written (at most once a second) tells.
    const changed = linesRead || !this.texts.servicesWritten(this.world, this.renderer.generation) || !this.texts.nodesWritten(this.world);
    // Listeners read the world from memory: tell them before the (fsync-bound) writes. A crash
    // right after changes nothing they could rely on: the restart reaches the same world.
    if (changed) {
      this.worldDirty = true;
      for (const fn of this.listeners) fn(this.world);
    }
    if (!this.worldDirty && !this.checkpointDirty) return;
    // A fleet whose files take the budget writes them trailing, after what this pass causes
    // (a pending action, its message) has had the disk.
    if (now() - this.persistedAt < this.persistGapMs || this.largeFiles()) return this.schedulePersist();
    const write = this.persist();
    // The pass does not wait for the fsyncs (the next pass may read on meanwhile: what is written
    // was serialised above) — unless the last write failed: then every pass waits and fails
    // with it, so the loop reports a disk that refuses (/healthz) until it accepts again.
    if (this.writeFailed) await write;
    else write.catch(() => {});
  }

  /** The last write took longer than PERSIST_MS allows for (a large fleet's files). */
  private largeFiles(): boolean {
    return this.persistGapMs > PERSIST_MS;
  }

  private schedulePersist(): void {
    if (this.cancelPersist) return;
    const wait = Math.max(this.largeFiles() ? LARGE_WRITE_AFTER_MS : 0, this.persistedAt + this.persistGapMs - this.deps.now());
    this.cancelPersist = (this.deps.clock ?? realClock).timer(wait, () => {
      this.cancelPersist = undefined;
      // Mid-pass the model is ahead of the rendered world: the pass's own publish writes instead.
      if (this.inPass) return;
      this.persist().catch((err: unknown) => this.deps.log.error({ err }, 'writing the world files failed; the next pass tries again'));
    });
  }

  /**
   * Serialises what is not written yet — now, while the world and the model agree — and queues
   * its writes (the world files, then the checkpoint) behind any still under way.
   */
  persist(): Promise<void> {
    const snap = this.snapshot();
    const run = this.persisting.then(() => (snap ? this.write(snap) : undefined));
    this.persisting = run.catch(() => {});
    return run;
  }

  /** Writes what is pending now, and cancels the trailing write (a stop, an offline replay). */
  async flush(): Promise<void> {
    this.cancelPersist?.();
    this.cancelPersist = undefined;
    await this.persist();
  }

  private snapshot(): (WorldStep & { positions?: Record<string, Record<string, FilePos>> }) | undefined {
    if (!this.worldDirty && !this.checkpointDirty) return undefined;
    this.persistedAt = this.deps.now();
    const started = performance.now();
    const cp = this.checkpointDirty ? this.texts.checkpoint(this.fingerprint, this.positions, this.model, this.deps.now()) : undefined;
    const snap = {
      ...(this.worldDirty ? { services: this.servicesJson(), nodes: this.texts.nodes(this.world) } : {}),
      ...(cp ? { checkpoint: cp.text, positions: cp.positions } : {}),
    };
    this.worldDirty = false;
    this.checkpointDirty = false;
    this.persistGapMs = persistGap(performance.now() - started, [snap.services, snap.nodes, cp?.text], this.deps.persistBytesPerS);
    return snap;
  }

  /** world/services.json's text, serialised per node (observer-texts.ts). */
  private servicesJson(): Chunks {
    return this.texts.services(this.world, this.renderer.generation);
  }
  private readonly texts = new ObserverTexts();

  private async write(snap: WorldStep & { positions?: Record<string, Record<string, FilePos>> }): Promise<void> {
    try {
      if (await writeWorldStep(this.deps.layout, snap, this.texts.written)) this.totals.publishes++;
      if (snap.positions) this.persistedPositions = snap.positions;
      this.writeFailed = false;
    } catch (err) {
      // Not written: the next publish serialises and tries again at once (a full disk, for one).
      if (snap.services !== undefined) this.worldDirty = true;
      if (snap.checkpoint !== undefined) this.checkpointDirty = true;
      if (!this.writeFailed) this.deps.log.warn({ err }, 'writing the world files failed; trying again at the next pass');
      this.writeFailed = true;
      this.persistedAt = Number.NEGATIVE_INFINITY;
      throw err;
    }
  }
}
