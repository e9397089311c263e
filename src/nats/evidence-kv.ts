// Actions' evidence in JetStream KV, when NATS_URL is set: key `e.<id>.<instance>` in the bucket
// HOMELAB_STATE, written once by the leader's inspector and removed with its action by retention,
// so a standby's page and a new leader's messages show the evidence the old leader collected
// (docs/design/leader.md).
import type { NatsConnection } from 'nats';
import { LazyBucket } from './kv-bucket.js';
import { keyPart } from './kv-actions-cache.js';
import { STATE_BUCKET } from './docs-kv.js';
import type { Evidence, SharedEvidence } from '../store/evidence.js';

const key = (id: string, instance: string): string => `e.${keyPart(id)}.${keyPart(instance)}`;

export class KvEvidence implements SharedEvidence {
  private readonly bucket: LazyBucket;

  /** `up`: whether the connection is up now (LazyBucket). */
  constructor(up?: () => boolean) {
    this.bucket = new LazyBucket(STATE_BUCKET, 'the evidence is', up);
  }

  begin(nc: NatsConnection): void {
    this.bucket.begin(nc);
  }

  async read(id: string, instance: string): Promise<unknown> {
    const e = await (await this.bucket.get()).get(key(id, instance));
    if (!e || e.operation !== 'PUT') return undefined;
    return JSON.parse(new TextDecoder().decode(e.value)) as unknown;
  }

  async write(e: Evidence): Promise<void> {
    await (await this.bucket.get()).put(key(e.id, e.instance), new TextEncoder().encode(JSON.stringify(e)));
  }

  async remove(id: string, instance: string): Promise<void> {
    await (await this.bucket.get()).purge(key(id, instance));
  }
}
