// A full replay in worker threads (docs/design/observer.md "Replay in parallel"): node files are
// independent, so the nodes are shared out among workers — all the files of one canonical node
// (NODE_ALIAS_MAP sends several to one) in one worker — each reads its nodes exactly as a pass
// does, and their models are merged. The world it gives is byte for byte the single-threaded one.
import { existsSync, lstatSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { canonicalNode, shareNoChanges, type ObserveConfig } from '../domain/observe.js';
import type { EventFile, FilePos } from '../store/events.js';
import { readNodeChunk, type ReadReports, type ReadStats } from './event-reader.js';
import type { ServiceState } from '../domain/schemas.js';
import type { Model } from './event-sink.js';

/** What one worker is given. */
export interface ReplayTask {
  /** File nodes, in the order a pass takes them (sorted). */
  nodes: string[];
  files: Record<string, EventFile[]>;
  model: Model;
  positions: Record<string, Record<string, FilePos>>;
  config: ObserveConfig & { observerChunkBytes: number };
  now: number;
  /** Malformed lines already said one by one per file (the cap is per file, for the process). */
  saidBefore: Record<string, number>;
}

/** What one worker hands back. */
export interface ReplayResult {
  model: Model;
  positions: Record<string, Record<string, FilePos>>;
  stats: ReadStats;
  said: {
    malformed: { file: string; line: number; reason: string }[];
    unlogged: { file: string; count: number; unlogged: number }[];
    resets: { file: string; why: 'replaced' | 'truncated' }[];
    future: Record<string, { count: number; maxAheadMs: number }>;
    duplicates: Record<string, number>;
  };
}

const WORKER = new URL('./replay-worker.js', import.meta.url);

/** Whether the worker's script is there (it is in the build; not when running from the sources). */
export function parallelReplayAvailable(): boolean {
  return WORKER.protocol === 'file:' && existsSync(fileURLToPath(WORKER));
}

/** Bytes left to read in these files from these positions. */
export function bytesToRead(files: ReadonlyMap<string, readonly EventFile[]>, positions: Record<string, Record<string, FilePos>>): number {
  let total = 0;
  for (const [node, list] of files) {
    for (const f of list) {
      const size = lstatSync(f.path, { throwIfNoEntry: false })?.size ?? 0;
      total += Math.max(0, size - (positions[node]?.[f.day]?.offset ?? 0));
    }
  }
  return total;
}

/** The stream a `seq` key belongs to (`node` or `node@agent`): its file node. */
const streamNode = (stream: string) => stream.split('@')[0]!;

/**
 * Reads every file in `workers` threads onto `state` (changed in place: the parts of the model of
 * the nodes read are replaced by the workers' results, counters summed). What the workers had to
 * say is said through `reports`, as a pass would have. Returns the counts.
 */
export async function replayInParallel(
  files: ReadonlyMap<string, EventFile[]>,
  state: { model: Model; positions: Record<string, Record<string, FilePos>> },
  config: ObserveConfig & { observerChunkBytes: number },
  now: number,
  workers: number,
  reports: ReadReports & { saidSoFar(file: string): number },
): Promise<ReadStats> {
  // Each canonical node's file nodes, with the bytes they hold, shared out largest first.
  const groups = new Map<string, { nodes: string[]; bytes: number }>();
  for (const node of [...files.keys()].sort()) {
    const g = groups.get(canonicalNode(node, config)) ?? { nodes: [], bytes: 0 };
    g.nodes.push(node);
    g.bytes += bytesToRead(new Map([[node, files.get(node)!]]), state.positions);
    groups.set(canonicalNode(node, config), g);
  }
  const shares = Array.from({ length: workers }, () => ({ canon: new Set<string>(), nodes: [] as string[], bytes: 0 }));
  for (const [canon, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1))) {
    const least = shares.reduce((m, s) => (s.bytes < m.bytes ? s : m));
    least.canon.add(canon);
    least.nodes.push(...g.nodes);
    least.bytes += g.bytes;
  }
  // The first share is read in this thread, on the model itself, while the workers read theirs.
  const [here, ...away] = shares.filter((s) => s.nodes.length > 0);
  const owner = (node: string) => away.find((s) => s.canon.has(canonicalNode(node, config)));
  const tasks = away.map((s) => ({ share: s, task: taskFor(s, files, state, config, now, reports) }));
  for (const { share } of tasks) removePart(state, (node) => owner(node) === share);
  const stats: ReadStats = { bytes: 0, lines: 0, applied: 0, malformed: 0 };
  const [results] = await Promise.all([Promise.all(tasks.map(({ task }) => runWorker(task))), here ? readShare(here.nodes, shareFiles(here.nodes, files), state, stats, config, now, reports) : undefined]);
  for (const r of results) {
    mergePart(state, r);
    for (const k of ['bytes', 'lines', 'applied', 'malformed'] as const) stats[k] += r.stats[k];
    for (const m of r.said.malformed) reports.malformed(m.file, m.line, m.reason);
    for (const u of r.said.unlogged) reports.unlogged(u.file, u.count, u.unlogged);
    for (const x of r.said.resets) reports.reset(x.file, x.why);
    for (const [node, f] of Object.entries(r.said.future)) reports.future(node, f.maxAheadMs, f.count);
    for (const [node, n] of Object.entries(r.said.duplicates)) reports.duplicate(node, n);
  }
  return stats;
}

/** Reads `nodes` (file nodes) to their ends, one chunk per node per round, as a pass does. */
export async function readShare(
  nodes: readonly string[],
  files: Readonly<Record<string, readonly EventFile[]>>,
  state: { model: Model; positions: Record<string, Record<string, FilePos>>; fresh?: WeakSet<ServiceState> },
  stats: ReadStats,
  config: ObserveConfig & { observerChunkBytes: number },
  now: number,
  reports: ReadReports,
): Promise<void> {
  const order = [...nodes].sort();
  const read = { model: state.model, positions: state.positions, fresh: state.fresh ?? new WeakSet<ServiceState>() };
  const done = new Set<string>();
  while (done.size < order.length) {
    for (const node of order) {
      if (done.has(node)) continue;
      const r = await readNodeChunk(read, node, files[node] ?? [], stats, config, now, reports);
      if (!r.more) done.add(node);
    }
  }
}

/** The model's maps by node: each with the node an entry belongs to (a worker takes its nodes' entries). */
type NodeMap = 'services' | 'nodes' | 'seq' | 'seq_seen' | 'first_reasons' | 'malformed_by_node';
const BY_NODE: readonly (readonly [NodeMap, (key: string, value: unknown) => string])[] = [
  ['services', (_, s) => (s as ServiceState).node],
  ['nodes', (k) => k],
  ['seq', streamNode],
  ['seq_seen', streamNode],
  ['first_reasons', (k) => k.split('/')[0]!],
  ['malformed_by_node', (k) => k],
];
const mapOf = (m: Model, name: NodeMap) => m[name] as Record<string, unknown> | undefined;

/** One worker's part: its nodes' files, positions, and the part of the model about them. */
function taskFor(
  share: { canon: Set<string>; nodes: string[] },
  files: ReadonlyMap<string, EventFile[]>,
  state: { model: Model; positions: Record<string, Record<string, FilePos>> },
  config: ObserveConfig & { observerChunkBytes: number },
  now: number,
  reports: { saidSoFar(file: string): number },
): ReplayTask {
  const mine = (node: string) => share.canon.has(canonicalNode(node, config));
  const pick = <T>(rec: Record<string, T>, nodeOf: (key: string, v: T) => string) => Object.fromEntries(Object.entries(rec).filter(([k, v]) => mine(nodeOf(k, v))));
  const part: Record<string, unknown> = { counters: { applied: 0, malformed: 0, oversized: 0, duplicate: 0, unknown: 0 } };
  for (const [name, nodeOf] of BY_NODE) {
    const rec = mapOf(state.model, name);
    if (rec) part[name] = pick(rec, nodeOf);
  }
  const nodeFiles = shareFiles(share.nodes, files);
  const saidBefore = Object.fromEntries(Object.values(nodeFiles).flat().map((f) => [f.path, reports.saidSoFar(f.path)]));
  return { nodes: [...share.nodes].sort(), files: nodeFiles, model: part as unknown as Model, positions: pick(state.positions, (k) => k), config: { aliases: config.aliases, ...(config.maxFutureMs !== undefined ? { maxFutureMs: config.maxFutureMs } : {}), observerChunkBytes: config.observerChunkBytes }, now, saidBefore };
}

/** The files of a share's nodes. */
function shareFiles(nodes: readonly string[], files: ReadonlyMap<string, EventFile[]>): Record<string, EventFile[]> {
  return Object.fromEntries(nodes.map((n) => [n, files.get(n)!]));
}

/** Takes the entries of the nodes a worker reads out of the model (the worker's result puts them back). */
function removePart(state: { model: Model; positions: Record<string, Record<string, FilePos>> }, isPart: (node: string) => boolean): void {
  const drop = (rec: Record<string, unknown> | undefined, nodeOf: (key: string, v: unknown) => string) => {
    for (const [k, v] of Object.entries(rec ?? {})) if (isPart(nodeOf(k, v))) delete rec![k];
  };
  for (const [name, nodeOf] of BY_NODE) drop(mapOf(state.model, name), nodeOf);
  drop(state.positions, (k) => k);
}

function mergePart(state: { model: Model; positions: Record<string, Record<string, FilePos>> }, r: ReplayResult): void {
  const m = state.model as unknown as Record<NodeMap, Record<string, unknown> | undefined>;
  // A map a worker made (first_reasons: by the first reason that changed during an incident) is made here too.
  shareNoChanges(r.model.services);
  for (const [name] of BY_NODE) {
    const part = mapOf(r.model, name);
    if (part) m[name] = Object.assign(m[name] ?? {}, part);
  }
  for (const k of ['applied', 'malformed', 'oversized', 'duplicate', 'unknown'] as const) state.model.counters[k] += r.model.counters[k];
  Object.assign(state.positions, r.positions);
}

function runWorker(task: ReplayTask): Promise<ReplayResult> {
  return new Promise((resolve, reject) => {
    // No flags of their own: V8's flags (`npm start`'s heap flags) are the process's and hold in
    // every thread already, and a Worker given one refuses to start (ERR_WORKER_INVALID_EXEC_ARGV);
    // the process's other flags (a script given with -e) would make a worker run something else.
    const w = new Worker(WORKER, { workerData: task, execArgv: [] });
    w.once('message', (msg: { ok: true; result: ReplayResult } | { ok: false; error: string }) => {
      void w.terminate();
      if (msg.ok) resolve(msg.result);
      else reject(new Error(`a replay worker failed: ${msg.error}`));
    });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`a replay worker exited with ${code} before it answered`)));
  });
}
