// Where the agent's events go: a local events directory, or a control plane's ingest route or NATS
// JetStream with a disk spool while it is away (docs/design/observer.md, docs/operator/scale-out.md).
import type { Logger } from '../log.js';
import { explainTlsError, RefusedError } from '../errors.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { realClock, type Clock } from '../time/clock.js';
import { appendEventLines } from '../store/events.js';
import { Spool } from '../store/spool.js';
import { connect, type NatsConnection } from 'nats';
import { shownServer, type NatsSettings } from '../config-nats.js';
import type { NodeEvent } from '../domain/schemas.js';
import { EVENTS_STREAM, eventMsgId, eventSubject } from '../nats/events.js';
import { natsOptions, refusedCredentials, tlsProblem } from '../nats/link.js';
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

/** Where a spool's events go: one batch at a time, a RefusedError when the receiver refuses them for good. */
export interface Sender {
  /** Where, for the log. */
  readonly target: string;
  send(events: readonly NodeEvent[]): Promise<void>;
  /** Why a send failed, in words. */
  explain(err: unknown): string;
  close?(): Promise<void>;
}

/** POST /ingest/events of a control plane, with this node's token. */
export function httpSender(url: string, token: string): Sender {
  return {
    target: url,
    async send(events) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(events),
        signal: AbortSignal.timeout(15_000),
      });
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        // The control plane refuses these events for good (a wrong token, a bad event): say so, keep them.
        throw new RefusedError(`ingest answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      }
      if (!res.ok) throw new Error(`ingest answered ${res.status}`);
    },
    explain: (err) => pushError(err, url),
  };
}

/**
 * Sends through a Sender (a control plane's ingest route, NATS JetStream). Every event is first
 * written to a spool file; a sender drains the spool in order and deletes what the receiver
 * accepted. While the receiver is away, events wait on disk; the receiver de-duplicates by seq.
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
    private readonly sender: Sender,
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

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    await this.sender.close?.();
  }

  private async drainOnce(): Promise<void> {
    const target = this.sender.target;
    for (;;) {
      const { names, events: body } = await this.spool.oldest(200);
      if (names.length === 0) {
        if ((await this.spool.names()).length === 0) return;
        continue; // only unreadable files were there, now set aside
      }
      try {
        await this.sender.send(body);
        await this.spool.remove(names);
        this.stats.sent += body.length;
        if (this.failures > 0) this.log.info({ target }, `${target} reachable again; spool drained`);
        this.failures = 0;
        this.lastError = undefined;
      } catch (err) {
        this.failures++;
        this.stats.failedAttempts++;
        this.lastError = this.sender.explain(err);
        if (this.failures === 1 || err instanceof RefusedError) {
          this.log.warn({ target, err, spooled: names.length }, `cannot push events (${this.lastError}); they wait in the spool`);
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

/**
 * Publishes to NATS JetStream (docs/operator/scale-out.md): each event on homelab.events.<node>
 * with its identity as Nats-Msg-Id, each publish acknowledged by the stream before the next; a
 * server away or a stream not made yet (the control plane makes it) keeps the events spooled.
 */
export function natsSender(settings: NatsSettings, name: string): Sender {
  let nc: NatsConnection | undefined;
  const connection = async () => {
    if (!nc || nc.isClosed()) nc = await connect({ ...(await natsOptions(settings, name)), waitOnFirstConnect: false });
    return nc;
  };
  return {
    target: `NATS at ${settings.servers.map(shownServer).join(', ')}`,
    async send(events) {
      const js = (await connection()).jetstream();
      for (const e of events) {
        const id = e.agent !== undefined && e.seq !== undefined ? { msgID: eventMsgId({ node: e.node, agent: e.agent, seq: e.seq }) } : {};
        try {
          await js.publish(eventSubject(e.node), JSON.stringify(e), { ...id, timeout: 10_000 });
        } catch (err) {
          if (refusedCredentials(err)) throw new RefusedError(`NATS refused the credentials (${(err as Error).message})`);
          throw err;
        }
      }
    },
    explain: (err) => {
      if (err instanceof RefusedError) return err.message;
      const tls = tlsProblem(err);
      if (tls) return `${tls.why}: check ${tls.setting}`;
      const m = (err as Error).message;
      return /no responders|503/i.test(m) ? `no stream ${EVENTS_STREAM} to take them yet (the control plane makes it at its start)` : m;
    },
    close: async () => {
      await nc?.drain().catch(() => nc?.close());
    },
  };
}
