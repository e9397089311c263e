// What every JetStream stream and KV bucket of the control plane shares: a replica on up to three
// servers of a cluster, file storage, one revision per key, and how a lost compare-and-set looks.
import type { KV, NatsConnection } from 'nats';
import { StorageType } from 'nats';

/** On a cluster the server lists every server's client address: a replica on up to 3 of them. */
export function replicasOf(nc: NatsConnection): number {
  return nc.info?.cluster ? Math.min(3, nc.info.connect_urls?.length ?? 1) : 1;
}

/** The bucket `name` (made when absent): file storage, one revision per key; `ttlMs`: its max_age. */
export function openBucket(nc: NatsConnection, name: string, ttlMs?: number): Promise<KV> {
  return nc.jetstream().views.kv(name, { history: 1, replicas: replicasOf(nc), storage: StorageType.File, ...(ttlMs !== undefined ? { ttl: ttlMs } : {}) });
}

/** Another writer changed the key since it was read (JetStream's "wrong last sequence"). */
export function lostRace(err: unknown): boolean {
  return (err as { api_error?: { err_code?: number } })?.api_error?.err_code === 10071;
}

/** A bucket opened at the first use on the connection given; a failed open is tried again at the next. */
export class LazyBucket {
  private nc: NatsConnection | undefined;
  private opening: Promise<KV> | undefined;

  constructor(
    private readonly name: string,
    /** What lives there, for the error while NATS is not connected. */
    private readonly what: string,
  ) {}

  begin(nc: NatsConnection): void {
    this.nc = nc;
  }

  get(): Promise<KV> {
    const nc = this.nc;
    if (!nc) return Promise.reject(new Error(`${this.what} in NATS KV ${this.name}, and NATS is not connected yet`));
    this.opening ??= openBucket(nc, this.name).catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }
}
