// The texts the observer writes (world/services.json and the checkpoint), serialised per node:
// each render says which services changed (world-render.ts), the observer which nodes it read
// (their read positions and model entries), and a write serialises only the nodes changed since
// the last write of that file (store/grouped-json.ts). A render made whole (a new service, a
// replay, a change of hosts/), a change not made by reading a node (files gone, agents
// forgotten) and WHOLE_EVERY_MS serialise everything at the next write.
import type { World } from '../domain/schemas.js';
import { nodeOfKey } from '../domain/world-render.js';
import { checkpointChunks } from '../store/checkpoint.js';
import type { FilePos } from '../store/events.js';
import { GroupedJson, RecordText, sameText, type Changed, type Chunks } from '../store/grouped-json.js';
import type { WorldWritten } from '../store/world.js';
import type { Model } from './event-sink.js';

type Pending = Set<string> | 'all';

/**
 * World files and the checkpoint are written at most this often (docs/design/observer.md): the
 * world in memory is published after every pass, the files follow within this time.
 */
export const PERSIST_MS = 500;
/**
 * And at most this many bytes a second on average: a write of a fleet-sized world and checkpoint
 * (27 MB at 50 000 services) waits its size's share, so a large fleet's files follow about every
 * 14 s instead of taking the disk from every other write (a small action or outbox file waits
 * for the journal commit that carries them: docs/benchmarks.md); under 1 MB, PERSIST_MS decides.
 */
export const PERSIST_BYTES_PER_S = 2 * 1024 * 1024;
/** Files that large (their gap beyond PERSIST_MS) are written this long after the pass that changed them, never in it. */
export const LARGE_WRITE_AFTER_MS = 1000;

/**
 * The least time until the next write of the files after one that took `serialiseMs` of this
 * thread to make the texts `written`: PERSIST_MS, 4× the serialisation (writing never takes more
 * than a fifth of the thread), or those bytes' share of the budget, whichever is longest.
 */
export function persistGap(serialiseMs: number, written: readonly (Chunks | undefined)[], bytesPerS = PERSIST_BYTES_PER_S): number {
  let bytes = 0;
  for (const text of written) for (const part of text ?? []) bytes += part.byteLength;
  return Math.max(PERSIST_MS, 4 * serialiseMs, (bytes / bytesPerS) * 1000);
}

/** How often the checkpoint is serialised whole, whatever the observer said changed. */
export const WHOLE_EVERY_MS = 10 * 60_000;

export class ObserverTexts {
  private readonly world = new GroupedJson(true);
  private readonly model = new GroupedJson(false);
  private pendingWorld: Pending = 'all';
  private pendingModel: Pending = 'all';
  private readonly positionsJson = new GroupedJson(false);
  private readonly nodesText = new RecordText();
  private readonly nodesJson = new GroupedJson(false);
  /** Nodes whose read positions or model entry (model.nodes) may have changed since the last checkpoint text. */
  private pendingNodes: Pending = 'all';
  private wholeAt = Number.NEGATIVE_INFINITY;
  /** The positions as of the last checkpoint text, copied per node (FilePos objects are replaced, never changed). */
  private positionsCopy: Record<string, Record<string, FilePos>> = {};
  private lastWorld: { generation: number; chunks: Chunks } | undefined;
  /** What the world files hold: the texts last written (or read at the start). */
  readonly written: WorldWritten = { services: '', nodes: '' };

  /** A render changed these services (their keys), or all of them. */
  rendered(change: 'all' | readonly string[]): void {
    if (change === 'all') {
      this.pendingWorld = 'all';
      this.changedAll();
      return;
    }
    for (const key of change) {
      const node = nodeOfKey(key);
      if (this.pendingWorld !== 'all') this.pendingWorld.add(node);
      if (this.pendingModel !== 'all') this.pendingModel.add(node);
    }
  }

  /** world/services.json's text (stableJson of the record) in parts, kept while `generation` holds. */
  services(world: World, generation: number): Chunks {
    if (this.lastWorld?.generation === generation) return this.lastWorld.chunks;
    const changed: Changed = this.pendingWorld;
    this.pendingWorld = new Set();
    const chunks = [...this.world.chunks(world.services, changed), NEWLINE];
    this.lastWorld = { generation, chunks };
    return chunks;
  }

  /** world/nodes.json's text in parts, each node's kept by its object (a rendered node never changes: render-nodes.ts; tested). */
  nodes(world: World): Chunks {
    return this.nodesText.chunks(world.nodes);
  }

  /** Whether world/nodes.json holds the world's nodes now (a text read at the start is compared once). */
  nodesWritten(world: World): boolean {
    const now = this.nodes(world);
    if (!sameText(now, this.written.nodes)) return false;
    this.written.nodes = now;
    return true;
  }

  /** Whether world/services.json holds the world's services now (a text read at the start is compared once). */
  servicesWritten(world: World, generation: number): boolean {
    const now = this.services(world, generation);
    if (!sameText(now, this.written.services)) return false;
    this.written.services = now;
    return true;
  }

  /** `node`'s events are about to be read or were applied: its positions and model entry change. */
  touched(node: string): void {
    if (this.pendingNodes !== 'all') this.pendingNodes.add(node);
  }

  /** Groups of the checkpoint serialised by its last text (the model's services, nodes and positions). */
  serialised(): number {
    return this.model.made + this.nodesJson.made + this.positionsJson.made;
  }

  /** The positions or the model changed otherwise than by reading a node (files gone, agents forgotten). */
  changedAll(): void {
    this.pendingModel = 'all';
    this.pendingNodes = 'all';
  }

  /**
   * The checkpoint's text in parts (the model's services, its nodes and the read positions
   * serialised per node), and the positions it holds, as a copy the observer's reading never changes.
   */
  checkpoint(fingerprint: string, positions: Record<string, Record<string, FilePos>>, model: Model, now: number): { text: Chunks; positions: Record<string, Record<string, FilePos>> } {
    if (now - this.wholeAt >= WHOLE_EVERY_MS || now < this.wholeAt) this.changedAll();
    if (this.pendingNodes === 'all') this.wholeAt = now;
    const changed = this.pendingModel;
    const nodes = this.pendingNodes;
    this.pendingModel = new Set();
    this.pendingNodes = new Set();
    const text = checkpointChunks(fingerprint, this.positionsJson.chunks(positions, keyed(this.positionsJson, positions, nodes)), model, {
      services: this.model.chunks(model.services, changed),
      nodes: this.nodesJson.chunks(model.nodes, keyed(this.nodesJson, model.nodes, nodes)),
    });
    const copy: Record<string, Record<string, FilePos>> = {};
    for (const node in positions) copy[node] = (nodes !== 'all' && !nodes.has(node) && this.positionsCopy[node]) || { ...positions[node] };
    this.positionsCopy = copy;
    return { text, positions: copy };
  }
}

/** The changed nodes of a record keyed by node, or 'all' when one of them is a key new since the last grouping. */
function keyed(json: GroupedJson, record: Readonly<Record<string, unknown>>, changed: Pending): Changed {
  if (changed === 'all') return 'all';
  for (const node of changed) if (Object.hasOwn(record, node) && !json.has(node)) return 'all';
  return changed;
}

const NEWLINE = Buffer.from('\n');
