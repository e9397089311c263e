// What every JetStream stream and KV bucket of the control plane shares: a replica on up to three
// servers of a cluster, file storage, one revision per key, and how a lost compare-and-set looks.
import type { KV, NatsConnection } from 'nats';
import { StorageType } from 'nats';

/** On a cluster the server lists every server's client address: a replica on up to 3 of them. */
export function replicasOf(nc: NatsConnection): number {
  return nc.info?.cluster ? Math.min(3, nc.info.connect_urls?.length ?? 1) : 1;
}

/** The first nats-server release whose clustered streams serialise compare-and-set (nats-server#4320). */
export const CAS_SAFE_VERSION = '2.9.21';

function atLeast(version: string | undefined, min: string): boolean {
  const v = (version ?? '0').split('.').map((x) => Number.parseInt(x, 10) || 0);
  const m = min.split('.').map(Number);
  for (let i = 0; i < m.length; i++) if ((v[i] ?? 0) !== m[i]) return (v[i] ?? 0) > m[i]!;
  return true;
}

/**
 * The replicas of a bucket written by compare-and-set. Before 2.9.21 a clustered stream checked
 * the expected revision before its replicas agreed, so two writes over one revision could both be
 * accepted (nats-server#4320): on such a cluster the buckets stay on one server (R1), where the
 * check and the write are one step. Debian's nats-server is 2.9.10.
 */
export function bucketReplicas(nc: NatsConnection): number {
  const r = replicasOf(nc);
  return r > 1 && !atLeast(nc.info?.version, CAS_SAFE_VERSION) ? 1 : r;
}

/** Why the buckets are on one server only (undefined: they are replicated as the cluster allows). */
export function bucketReplicasNote(nc: NatsConnection): string | undefined {
  if (bucketReplicas(nc) === replicasOf(nc)) return undefined;
  return `nats-server ${nc.info?.version ?? '?'} does not serialise compare-and-set across a cluster's replicas (nats-server#4320, fixed in ${CAS_SAFE_VERSION}): the KV buckets of the actions, the state, the outbox and the leader lease are kept on one server (R1), unavailable while it is down; upgrade the servers to ${CAS_SAFE_VERSION} or later for three replicas`;
}

/** The bucket `name` (made when absent): file storage, one revision per key; `ttlMs`: its max_age. */
export function openBucket(nc: NatsConnection, name: string, ttlMs?: number): Promise<KV> {
  return nc.jetstream().views.kv(name, { history: 1, replicas: bucketReplicas(nc), storage: StorageType.File, ...(ttlMs !== undefined ? { ttl: ttlMs } : {}) });
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
    /**
     * Whether the connection is up now: while it is not, a use fails at once instead of waiting
     * out a request's timeout (a pass under way when NATS went would hold a stop for it).
     */
    private readonly up: () => boolean = () => true,
  ) {}

  begin(nc: NatsConnection): void {
    this.nc = nc;
  }

  get(): Promise<KV> {
    const nc = this.nc;
    if (!nc) return Promise.reject(new Error(`${this.what} in NATS KV ${this.name}, and NATS is not connected yet`));
    if (!this.up()) return Promise.reject(new Error(`${this.what} in NATS KV ${this.name}, and NATS is not connected`));
    this.opening ??= openBucket(nc, this.name).catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }
}
