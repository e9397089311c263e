// Following a KV bucket into an ActionsCache: a watch of every key, its last values first. Loaded
// once the watch has delivered what the bucket held when it began (the stream's last sequence
// then). A watch that ends (the server gone long enough for the client to give it up) is begun
// again; the keys its new snapshot no longer holds were removed meanwhile and are forgotten.
import type { KV, NatsConnection, QueuedIterator, KvEntry } from 'nats';
import type { Logger } from '../log.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { withDeadline, type Clock } from '../time/clock.js';
import type { Action } from '../domain/actions.js';
import type { ActionsCache } from './kv-actions-cache.js';

export class KvFollower {
  loaded = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private watch: QueuedIterator<KvEntry> | undefined;
  private cancelWait: (() => void) | undefined;
  private problem = 'not connected to NATS yet';
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly deps: { bucket: string; cache: ActionsCache; log: Logger; clock: Clock; onChange: (a?: Action) => void; onLoaded: () => void }) {}

  begin(nc: NatsConnection, open: () => Promise<KV>): void {
    this.running ??= this.run(nc, open);
  }

  /** Why reads cannot be answered yet. */
  unavailable(): Error {
    return new Error(`the actions are in NATS KV ${this.deps.bucket} and not read yet (${this.problem})`);
  }

  ready(ms: number): Promise<void> {
    if (this.loaded) return Promise.resolve();
    return withDeadline(
      this.deps.clock,
      ms,
      new Promise<void>((r) => this.waiters.push(r)),
      () => this.unavailable(),
    );
  }

  private async run(nc: NatsConnection, open: () => Promise<KV>): Promise<void> {
    for (let failures = 0; !this.stopped; ) {
      try {
        await this.follow(nc, await open());
        failures = 0;
      } catch (err) {
        if (this.stopped || nc.isClosed()) return;
        failures++;
        this.problem = (err as Error).message;
        if (failures === 1) this.deps.log.warn({ err }, `cannot follow the NATS KV bucket ${this.deps.bucket} (${this.problem}); trying again`);
        await new Promise<void>((r) => {
          const cancel = this.deps.clock.timer(backoffDelay(failures, RETRY_POLICIES.agentPush), r);
          this.cancelWait = () => (cancel(), r());
        });
      }
    }
  }

  private async follow(nc: NatsConnection, kv: KV): Promise<void> {
    const info = await (await nc.jetstreamManager()).streams.info(`KV_${this.deps.bucket}`);
    const upTo = info.state.last_seq;
    const seen = new Set<string>();
    let initialized = false;
    const init = () => {
      if (initialized) return;
      initialized = true;
      this.deps.cache.forgetExcept(seen, upTo);
      const first = !this.loaded;
      if (first) this.deps.log.info({ bucket: this.deps.bucket, entries: seen.size }, `read the NATS KV bucket ${this.deps.bucket}`);
      this.loaded = true;
      if (first) this.deps.onLoaded();
      this.waiters.splice(0).forEach((r) => r());
      this.deps.onChange();
    };
    const watch = await kv.watch({ key: '>', initializedFn: init });
    this.watch = watch;
    if (this.stopped) watch.stop();
    if (info.state.messages === 0) init();
    for await (const e of watch) {
      if (!initialized) seen.add(e.key);
      const applied = this.deps.cache.apply(e.key, e.revision, e.operation === 'PUT' ? e.value : undefined, e.created.getTime());
      if (!initialized && e.revision >= upTo) init();
      else if (initialized && applied.changed) this.deps.onChange(applied.action);
    }
    if (!this.stopped) throw new Error(`the watch of ${this.deps.bucket} ended`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    this.cancelWait?.();
    await this.running;
  }
}
