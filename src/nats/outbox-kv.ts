// The Telegram outbox's records in JetStream KV, when NATS_URL is set (docs/design/leader.md): bucket
// HOMELAB_OUTBOX, one key per record (`r.<hash of its key>`), holding what the message should say
// and which message it is in the chat. Only the leader writes them; a new leader loads them when its
// Telegram starts and goes on editing the same messages instead of posting new ones.
import type { NatsConnection } from 'nats';
import { LazyBucket } from './kv-bucket.js';
import type { Logger } from '../log.js';
import { KeyedOrder, recordName, RecordSchema, type OutboxRecords, type OutRecord } from '../store/outbox-files.js';

export const OUTBOX_BUCKET = 'HOMELAB_OUTBOX';

export class KvOutbox implements OutboxRecords {
  private readonly bucket = new LazyBucket(OUTBOX_BUCKET, 'the outbox is');
  private readonly order = new KeyedOrder();

  constructor(private readonly log: Logger) {}

  begin(nc: NatsConnection): void {
    this.bucket.begin(nc);
  }

  async load(): Promise<OutRecord[]> {
    const kv = await this.bucket.get();
    const out: OutRecord[] = [];
    // The keys first, then each record: a read inside the keys' iteration can end it early.
    const keys: string[] = [];
    for await (const key of await kv.keys('r.>')) keys.push(key);
    for (const key of keys) {
      const e = await kv.get(key);
      if (!e || e.operation !== 'PUT') continue;
      let raw: unknown;
      try {
        raw = JSON.parse(new TextDecoder().decode(e.value));
      } catch {
        raw = undefined;
      }
      const parsed = RecordSchema.safeParse(raw);
      if (parsed.success) out.push(parsed.data);
      else this.log.warn({ key }, `skipped an unreadable outbox record in ${OUTBOX_BUCKET}`);
    }
    this.log.info({ records: out.length }, `read ${out.length} outbox record(s) from NATS KV ${OUTBOX_BUCKET}`);
    return out;
  }

  write(rec: OutRecord): Promise<void> {
    return this.order.run(rec.key, async () => void (await (await this.bucket.get()).put(`r.${recordName(rec.key)}`, new TextEncoder().encode(JSON.stringify(rec)))));
  }

  remove(key: string): Promise<void> {
    return this.order.run(key, async () => void (await (await this.bucket.get()).purge(`r.${recordName(key)}`)));
  }
}
