// The state documents (silences, maintenance, cooldowns, heal budgets) in JetStream KV, when
// NATS_URL is set: bucket HOMELAB_STATE, one key per document, each write a compare-and-set on the
// revision read (store/doc-store.ts), so the leader, a standby and the CLI on any host share them
// and never lose each other's change. Read from the server each time: a handful of small reads a
// supervisor pass.
import type { KV, NatsConnection } from 'nats';
import { LazyBucket, lostRace } from './kv-bucket.js';
import type { Doc, DocName, DocStore } from '../store/doc-store.js';

export const STATE_BUCKET = 'HOMELAB_STATE';

export class KvDocs implements DocStore {
  private readonly bucket: LazyBucket;

  /** `up`: whether the connection is up now (LazyBucket: while it is not, nothing waits for NATS). */
  constructor(up?: () => boolean) {
    this.bucket = new LazyBucket(STATE_BUCKET, 'the state is', up);
  }

  /** Uses this connection (the bucket is opened, or made, at the first read or write). */
  begin(nc: NatsConnection): void {
    this.bucket.begin(nc);
  }

  /** The last document read of each name: what a read answers while NATS is away (the page stays up). */
  private readonly last = new Map<DocName, Doc>();

  /**
   * The document as the server has it; while NATS is away, as it was last read, at once (a write
   * over that revision is refused if it changed meanwhile, so nothing is lost by it).
   */
  async read(name: DocName): Promise<Doc> {
    const where = `NATS KV ${STATE_BUCKET} key ${name}`;
    let e: Awaited<ReturnType<KV['get']>>;
    try {
      e = await (await this.bucket.get()).get(name);
    } catch (err) {
      const last = this.last.get(name);
      if (last) return last;
      throw err;
    }
    let doc: Doc;
    if (!e || e.operation !== 'PUT') doc = { value: undefined, rev: e?.revision ?? 0, where };
    else {
      try {
        doc = { value: JSON.parse(new TextDecoder().decode(e.value)), rev: e.revision, where };
      } catch (err) {
        throw new Error(`${where}: invalid JSON (${(err as Error).message})`);
      }
    }
    this.last.set(name, doc);
    return doc;
  }

  async write(name: DocName, value: unknown, rev?: number): Promise<number | undefined> {
    const kv = await this.bucket.get();
    const data = new TextEncoder().encode(JSON.stringify(value));
    try {
      return await (rev === undefined ? kv.put(name, data) : rev === 0 ? kv.create(name, data) : kv.update(name, data, rev));
    } catch (err) {
      if (lostRace(err)) return undefined;
      throw err;
    }
  }
}
