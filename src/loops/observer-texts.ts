// The texts the observer writes (world/services.json and the checkpoint), serialised per node:
// each render says which services changed (world-render.ts), and a write serialises only the
// nodes changed since the last write of that file (store/grouped-json.ts). A render made whole
// (a new service, a replay, a change of hosts/) serialises everything at the next write.
import type { World } from '../domain/schemas.js';
import { nodeOfKey } from '../domain/world-render.js';
import { checkpointText } from '../store/checkpoint.js';
import type { FilePos } from '../store/events.js';
import { GroupedJson, sameText, type Changed, type Chunks } from '../store/grouped-json.js';
import type { WorldWritten } from '../store/world.js';
import type { Model } from './event-sink.js';

type Pending = Set<string> | 'all';

export class ObserverTexts {
  private readonly world = new GroupedJson(true);
  private readonly model = new GroupedJson(false);
  private pendingWorld: Pending = 'all';
  private pendingModel: Pending = 'all';
  private lastWorld: { generation: number; chunks: Chunks } | undefined;
  /** What the world files hold: the texts last written (or read at the start). */
  readonly written: WorldWritten = { services: '', nodes: '' };

  /** A render changed these services (their keys), or all of them. */
  rendered(change: 'all' | readonly string[]): void {
    if (change === 'all') {
      this.pendingWorld = 'all';
      this.pendingModel = 'all';
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

  /** Whether world/services.json holds the world's services now (a text read at the start is compared once). */
  servicesWritten(world: World, generation: number): boolean {
    const now = this.services(world, generation);
    if (!sameText(now, this.written.services)) return false;
    this.written.services = now;
    return true;
  }

  /** The checkpoint's text in parts, the model's services serialised per node. */
  checkpoint(fingerprint: string, positions: Record<string, Record<string, FilePos>>, model: Model): Chunks {
    const changed = this.pendingModel;
    this.pendingModel = new Set();
    const services = this.model.chunks(model.services, changed);
    // The rest of the checkpoint around a mark no JSON text holds raw (JSON.stringify escapes it).
    const [head, tail] = checkpointText(fingerprint, positions, model, MARK).split(MARK) as [string, string];
    return [Buffer.from(head, 'utf8'), ...services, Buffer.from(tail, 'utf8')];
  }
}

const NEWLINE = Buffer.from('\n');
const MARK = '\u0000services\u0000';
