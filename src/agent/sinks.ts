// Where the agent's events go: a local events directory, or a control plane's ingest route with
// a disk spool while it is away (docs/design/observer.md).
import type { Logger } from '../log.js';
import { explainTlsError, RefusedError } from '../errors.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';
import { appendEventLines } from '../store/events.js';
import { Spool } from '../store/spool.js';
import type { AgentEvent, EventSink } from './agent.js';

/** Appends to `events/<day>/<node>.jsonl` on this host. */
export class LocalSink implements EventSink {
  constructor(
    private readonly eventsDir: string,
    private readonly node: string,
  ) {}
  async write(events: AgentEvent[]): Promise<void> {
    await appendEventLines(this.eventsDir, this.node, events.map((e) => ({ ts: e.ts, line: JSON.stringify(e) })));
  }
}

/**
 * Why a push failed, in words: fetch says only "fetch failed" and keeps the reason in `cause`.
 * An https control plane is verified against the system CAs and NODE_EXTRA_CA_CERTS.
 */
function pushError(err: unknown, url: string): string {
  if (err instanceof RefusedError) return err.message;
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  const tls = explainTlsError(code, cause?.message ?? String(err), `the control plane at ${url}`, 'the agent\'s certificate');
  if (tls) return /not signed/.test(tls) ? `${tls}: give the agent the CA that signed it with NODE_EXTRA_CA_CERTS=/path/to/ca.pem` : tls;
  return code ? `${code}: ${cause?.message ?? (err as Error).message}` : (err as Error).message;
}

/**
 * Pushes to a control plane's POST /ingest/events. Every event is first written to a spool file;
 * a sender drains the spool in order and deletes what the control plane accepted. While the
 * control plane is away, events wait on disk; the receiver de-duplicates by seq.
 */
export class PushSink implements EventSink {
  private draining: Promise<void> | undefined;
  private cancelRetry: (() => void) | undefined;
  private failures = 0;
  private stopped = false;
  readonly stats = { sent: 0, failedAttempts: 0 };
  /** Why the last push failed, for the operator (undefined after a success). */
  lastError: string | undefined;

  private readonly spool: Spool;

  constructor(
    private readonly url: string,
    private readonly token: string,
    spoolDir: string,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {
    this.spool = new Spool(spoolDir, log);
  }

  async write(events: AgentEvent[]): Promise<void> {
    await this.spool.add(events);
    await this.drain();
  }

  /** The events waiting in the spool, by file name, oldest first. */
  spooled(): Promise<string[]> {
    return this.spool.names();
  }

  /** Sends what the spool holds, oldest first, in batches. */
  drain(): Promise<void> {
    this.draining ??= this.drainOnce().finally(() => (this.draining = undefined));
    return this.draining;
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
  }

  private async drainOnce(): Promise<void> {
    for (;;) {
      const { names, events: body } = await this.spool.oldest(200);
      if (names.length === 0) {
        if ((await this.spool.names()).length === 0) return;
        continue; // only unreadable files were there, now set aside
      }
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(15_000),
        });
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
          // The control plane refuses these events for good (a wrong token, a bad event): say so, keep them.
          throw new RefusedError(`ingest answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        }
        if (!res.ok) throw new Error(`ingest answered ${res.status}`);
        await this.spool.remove(names);
        this.stats.sent += body.length;
        if (this.failures > 0) this.log.info({ url: this.url }, 'control plane reachable again; spool drained');
        this.failures = 0;
        this.lastError = undefined;
      } catch (err) {
        this.failures++;
        this.stats.failedAttempts++;
        this.lastError = pushError(err, this.url);
        if (this.failures === 1 || err instanceof RefusedError) {
          this.log.warn({ url: this.url, err, spooled: names.length }, `cannot push events (${this.lastError}); they wait in the spool`);
        }
        if (!this.stopped) {
          this.cancelRetry?.();
          this.cancelRetry = this.clock.timer(backoffDelay(this.failures, RETRY_POLICIES.agentPush), () => void this.drain());
        }
        return;
      }
    }
  }
}
