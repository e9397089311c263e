// One leader among the control planes of one NATS (docs/design/leader.md): a lease in the KV
// bucket HOMELAB_LEADER, key `leader`, taken with create (or compare-and-set on a lease that
// ended) and renewed by compare-and-set every LEASE_TTL_S/3. The bucket's max_age is the TTL, so a
// lease not renewed disappears from the server by itself. JetStream 2.9 has no compare-and-set
// across two keys, so fencing is by time: the leader acts only while its last renewal is younger
// than TTL/2 on its monotonic clock, and a standby takes a lease over only once TTL has passed since
// the lease's last revision (its disappearance, or a revision seen unchanged that long). A leader
// that loses the lease after holding it says so and stops acting for good (`onLost`: the process
// exits and starts again as a standby).
import type { KV, NatsConnection } from 'nats';
import { lostRace, openBucket } from './kv-bucket.js';
import type { Logger } from '../log.js';
import type { Clock } from '../time/clock.js';

export const LEADER_BUCKET = 'HOMELAB_LEADER';
const KEY = 'leader';

export type Role = 'leader' | 'standby';

interface LeaseValue {
  id: string;
  /** The revision of the write that took the lease: a new leader's epoch is always higher. */
  epoch: number;
}


export class Lease {
  role: Role = 'standby';
  /** The epoch of the lease as last heard (this process's own while it leads). */
  epoch = 0;
  /** Who held the lease at the last look. */
  holder: string | undefined;
  private kv: KV | undefined;
  private rev = 0;
  private renewedAt = -Infinity;
  private seen: { rev: number; at: number } | undefined;
  private stopped = false;
  private cancelTick: (() => void) | undefined;
  private ticking: Promise<void> | undefined;
  private readonly gained: (() => void)[] = [];
  private looked: (() => void) | undefined;
  private readonly first = new Promise<void>((r) => (this.looked = r));
  private lostOnce = false;
  private failures = 0;

  constructor(
    private readonly deps: { id: string; ttlS: number; clock: Clock; log: Logger; onLost: (why: string) => void },
  ) {}

  private get ttlMs(): number {
    return this.deps.ttlS * 1000;
  }

  /** Whether this process may act as the leader now: it holds the lease, renewed less than TTL/2 ago. */
  leading(): boolean {
    return this.role === 'leader' && this.deps.clock.monotonic() - this.renewedAt < this.ttlMs / 2;
  }

  /** `fn` runs once, when this process first takes the lease (at once if it holds it). */
  onGained(fn: () => void): void {
    if (this.role === 'leader') fn();
    else this.gained.push(fn);
  }

  /** Resolves after the first look at the lease (this process leads then, or knows who does). */
  firstLook(): Promise<void> {
    return this.first;
  }

  /** Opens the bucket on this connection and looks at the lease every TTL/3. */
  begin(nc: NatsConnection): void {
    if (this.kv || this.stopped) return;
    this.ticking = (async () => {
      try {
        this.kv = await openBucket(nc, LEADER_BUCKET, this.ttlMs);
      } catch (err) {
        this.deps.log.warn({ err }, `cannot open the NATS KV bucket ${LEADER_BUCKET}; trying again`);
        this.kv = undefined;
        if (!this.stopped) this.cancelTick = this.deps.clock.timer(this.ttlMs / 3, () => this.begin(nc));
        return;
      }
      await this.tick();
    })();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTick = this.deps.clock.timer(this.ttlMs / 3, () => void (this.ticking = this.tick()));
  }

  /** One look: renew the lease held, or take one that ended. */
  async tick(): Promise<void> {
    try {
      if (this.role === 'leader') await this.renew();
      else await this.claim();
      this.failures = 0;
    } catch (err) {
      // Said once while it lasts (NATS away), not every TTL/3.
      if (this.failures++ === 0) this.deps.log.warn({ err }, `the leader lease in ${LEADER_BUCKET} could not be ${this.role === 'leader' ? 'renewed' : 'looked at'}: ${(err as Error).message}`);
      if (this.role === 'leader' && this.deps.clock.monotonic() - this.renewedAt >= this.ttlMs) this.lose(`not renewed for ${this.deps.ttlS} s (NATS away)`);
    }
    this.looked?.();
    this.schedule();
  }

  private async renew(): Promise<void> {
    try {
      const started = this.deps.clock.monotonic();
      this.rev = await this.kv!.update(KEY, encode({ id: this.deps.id, epoch: this.epoch }), this.rev);
      this.renewedAt = started;
    } catch (err) {
      if (!lostRace(err)) throw err;
      this.lose('another control plane holds it now');
    }
  }

  private async claim(): Promise<void> {
    const e = await this.kv!.get(KEY);
    const now = this.deps.clock.monotonic();
    const held = e && e.operation === 'PUT' ? decode(e.value) : undefined;
    if (e && held) {
      this.holder = held.id;
      this.epoch = held.epoch || e.revision;
      // A lease seen unchanged for a whole TTL on this clock has ended, whatever the server says.
      if (this.seen?.rev !== e.revision) this.seen = { rev: e.revision, at: now };
      if (now - this.seen.at < this.ttlMs) return;
    }
    const started = now;
    let rev: number;
    try {
      // Absent: never taken, or gone with max_age (TTL after its last revision), or given back.
      rev = e ? await this.kv!.update(KEY, encode({ id: this.deps.id, epoch: 0 }), e.revision) : await this.kv!.create(KEY, encode({ id: this.deps.id, epoch: 0 }));
    } catch (err) {
      if (lostRace(err)) return; // another standby was first
      throw err;
    }
    this.rev = rev;
    this.epoch = rev;
    this.renewedAt = started;
    this.role = 'leader';
    this.holder = this.deps.id;
    this.deps.log.info({ epoch: rev, previous: held?.id ?? null }, `leading, epoch ${rev}${held ? ` (after ${held.id})` : ''}`);
    // The epoch in the value from now on (the first write could not know its own revision).
    await this.renew();
    for (const fn of this.gained.splice(0)) fn();
  }

  private lose(why: string): void {
    this.role = 'standby';
    if (this.lostOnce) return;
    this.lostOnce = true;
    this.deps.log.error({ epoch: this.epoch }, `lost the leader lease: ${why}; this control plane stops acting`);
    this.deps.onLost(`lost the leader lease: ${why}`);
  }

  /** Stops looking; a leader gives the lease back, so a standby takes it at its next look. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    await this.ticking?.catch(() => {});
    if (this.role === 'leader' && this.kv) {
      this.role = 'standby';
      await this.kv.delete(KEY, { previousSeq: this.rev }).catch(() => undefined);
    }
  }
}

function encode(v: LeaseValue): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

function decode(b: Uint8Array): LeaseValue | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(b)) as Partial<LeaseValue>;
    return typeof v.id === 'string' && typeof v.epoch === 'number' ? { id: v.id, epoch: v.epoch } : undefined;
  } catch {
    return undefined;
  }
}
