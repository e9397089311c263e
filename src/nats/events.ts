// Events over NATS JetStream (docs/operator/scale-out.md): the stream HOMELAB_EVENTS on subjects
// homelab.events.<node>, one event per message (a line of events/…jsonl, as JSON), de-duplicated
// by `Nats-Msg-Id: <node>:<agent>:<seq>`. Each control plane reads it with a durable consumer of
// its own (CONTROL_PLANE_ID) and appends what it reads to its events files — the same files the
// observer reads, fsynced before the messages are acknowledged: a crash before the ack has the
// message delivered again, and the observer's sequence check drops the copy (an event carries its
// agent and seq). A message that is no event of its subject's node is said (its stream sequence,
// why) and terminated — never delivered again, never removed from the stream.
import { AckPolicy, DeliverPolicy, nanos, StorageType, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import { checkIngestEvent } from '../domain/ingest.js';
import { NAME_RE } from '../domain/schemas.js';
import type { Logger } from '../log.js';
import { appendEventLines } from '../store/events.js';
import { backoffDelay, RETRY_POLICIES } from '../time/backoff.js';
import { replicasOf } from './kv-bucket.js';
import type { Clock } from '../time/clock.js';

export const EVENTS_STREAM = 'HOMELAB_EVENTS';
const PREFIX = 'homelab.events.';
export const EVENTS_SUBJECTS = `${PREFIX}>`;
/** A message id seen within this long is stored once (an agent's retry after a lost ack). */
export const DEDUP_WINDOW_MS = 3_600_000;

/** The subject an event of `node` is published on. */
export const eventSubject = (node: string): string => `${PREFIX}${node}`;
/** An event's identity in the stream (the same as the observer's: node, agent instance, seq). */
export const eventMsgId = (e: { node: string; agent: string; seq: number }): string => `${e.node}:${e.agent}:${e.seq}`;

/** Whether a message of the stream is an event its subject's node may send: its line, or why not. */
export function checkEventMessage(subject: string, data: Uint8Array, aliases: Readonly<Record<string, string>>): { node: string } & ({ ok: true; ts: string; line: string } | { ok: false; error: string }) {
  const node = subject.startsWith(PREFIX) ? subject.slice(PREFIX.length) : '';
  if (!NAME_RE.test(node)) return { node, ok: false, error: `subject ${subject} names no node` };
  let item: unknown;
  try {
    item = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    return { node, ok: false, error: `not JSON (${(err as Error).message})` };
  }
  return { node, ...checkIngestEvent(item, node, aliases) };
}

/**
 * Creates the stream, or brings its age limit and de-duplication window to these settings. On a
 * cluster it is made with a replica on each of up to 3 servers (R3: one server lost loses nothing).
 */
export async function ensureEventsStream(jsm: JetStreamManager, retentionDays: number, replicas = 1): Promise<void> {
  const max_age = retentionDays > 0 ? nanos(retentionDays * 86_400_000) : 0;
  const duplicate_window = nanos(DEDUP_WINDOW_MS);
  const info = await jsm.streams.info(EVENTS_STREAM).catch((err: unknown) => {
    if (/stream not found/i.test(String((err as Error).message))) return undefined;
    throw err;
  });
  if (!info) {
    await jsm.streams.add({ name: EVENTS_STREAM, subjects: [EVENTS_SUBJECTS], storage: StorageType.File, max_age, duplicate_window, num_replicas: replicas });
    return;
  }
  if (!info.config.subjects?.includes(EVENTS_SUBJECTS)) throw new Error(`stream ${EVENTS_STREAM} exists without subject ${EVENTS_SUBJECTS}; it is not this product's`);
  if (info.config.max_age !== max_age || info.config.duplicate_window !== duplicate_window) await jsm.streams.update(EVENTS_STREAM, { ...info.config, max_age, duplicate_window });
}

export interface NatsEventsDeps {
  eventsDir: string;
  aliases: Readonly<Record<string, string>>;
  retentionDays: number;
  /** This control plane's durable consumer. */
  consumer: string;
  log: Logger;
  clock: Clock;
}

/** Reads the stream with this control plane's durable consumer into the events files. */
export class NatsEvents {
  readonly stats = { received: 0, written: 0, refused: 0, writeFailures: 0 };
  private stopped = false;
  private stopConsume: (() => void) | undefined;
  /** Ends the wait before the next attempt (a stop). */
  private cancelWait: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: NatsEventsDeps) {}

  /** Its durable consumer's name. */
  get consumer(): string {
    return this.deps.consumer;
  }

  /** Starts reading on this connection (the link calls it once connected). */
  begin(nc: NatsConnection): void {
    this.running ??= this.run(nc);
  }

  /** Reads until stopped; JetStream not answering yet (a cluster electing its leader) is tried again. */
  private async run(nc: NatsConnection): Promise<void> {
    for (let failures = 0; !this.stopped; ) {
      try {
        await this.read(nc);
        failures = 0;
      } catch (err) {
        if (this.stopped || nc.isClosed()) return;
        failures++;
        if (failures === 1) this.deps.log.warn({ err }, `cannot read the NATS stream ${EVENTS_STREAM} (${(err as Error).message}); trying again`);
        await new Promise<void>((r) => {
          const cancel = this.deps.clock.timer(backoffDelay(failures, RETRY_POLICIES.agentPush), r);
          this.cancelWait = () => (cancel(), r());
        });
      }
    }
  }

  private async read(nc: NatsConnection): Promise<void> {
    const jsm = await nc.jetstreamManager();
    await ensureEventsStream(jsm, this.deps.retentionDays, replicasOf(nc));
    const existing = await jsm.consumers.info(EVENTS_STREAM, this.deps.consumer).catch(() => undefined);
    if (!existing) await jsm.consumers.add(EVENTS_STREAM, { durable_name: this.deps.consumer, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: EVENTS_SUBJECTS, ack_wait: nanos(30_000) });
    const consumer = await nc.jetstream().consumers.get(EVENTS_STREAM, this.deps.consumer);
    this.deps.log.info({ stream: EVENTS_STREAM, consumer: this.deps.consumer, pending: existing?.num_pending ?? null }, `reading events from NATS stream ${EVENTS_STREAM} as ${this.deps.consumer}`);
    while (!this.stopped) {
      // A pull held by a server that died is noticed by two missed heartbeats (each expires/2):
      // 5 s rather than the default 30 (a cluster's server killed: test/integration/nats-events.test.ts).
      const messages = await consumer.consume({ max_messages: 256, expires: 5_000 });
      if (this.stopped) return void messages.stop();
      void this.follow(messages);
      this.stopConsume = () => void messages.stop();
      let batch: JsMsg[] = [];
      let flushing: Promise<void> | undefined;
      const flush = async () => {
        // Messages that came while a write ran are the next batch: one write per node and batch.
        while (batch.length) {
          const take = batch;
          batch = [];
          await this.write(take);
        }
        flushing = undefined;
      };
      for await (const m of messages) {
        batch.push(m);
        // The messages already received come first (one turn of the event loop): one write for all.
        flushing ??= new Promise<void>((r) => this.deps.clock.timer(0, r)).then(flush);
      }
      await flushing;
    }
  }

  /** What the client says of the consumer (heartbeats missed, consumer or stream not found): said in the log. */
  private async follow(messages: { status(): Promise<AsyncIterable<{ type: string; data: unknown }>> }): Promise<void> {
    for await (const s of await messages.status()) {
      if (s.type === 'next' || s.type === 'discard' || s.type === 'debug') continue;
      this.deps.log.warn({ stream: EVENTS_STREAM, consumer: this.deps.consumer, status: s.type, data: s.data }, `NATS consumer ${this.deps.consumer}: ${s.type} (${JSON.stringify(s.data)})`);
    }
  }

  /** Appends a batch to the events files (fsynced), then acknowledges it. */
  private async write(msgs: readonly JsMsg[]): Promise<void> {
    this.stats.received += msgs.length;
    const byNode = new Map<string, { msgs: JsMsg[]; lines: { ts: string; line: string }[] }>();
    const refused: string[] = [];
    for (const m of msgs) {
      const c = checkEventMessage(m.subject, m.data, this.deps.aliases);
      if (!c.ok) {
        refused.push(`#${m.seq} on ${m.subject}: ${c.error}`);
        m.term();
        continue;
      }
      const entry = byNode.get(c.node) ?? { msgs: [], lines: [] };
      entry.msgs.push(m);
      entry.lines.push({ ts: c.ts, line: c.line });
      byNode.set(c.node, entry);
    }
    if (refused.length) {
      this.stats.refused += refused.length;
      this.deps.log.warn({ stream: EVENTS_STREAM, refused }, `${refused.length} message(s) of ${EVENTS_STREAM} are not events of their node; not read (still in the stream: control-plane nats message <seq>)`);
    }
    for (const [node, { msgs: mine, lines }] of byNode) {
      try {
        await appendEventLines(this.deps.eventsDir, node, lines);
      } catch (err) {
        this.stats.writeFailures++;
        this.deps.log.error({ err, node, messages: mine.length }, `cannot write ${mine.length} NATS event(s) of ${node}; NATS delivers them again`);
        for (const m of mine) m.nak(5000);
        continue;
      }
      for (const m of mine) m.ack();
      this.stats.written += mine.length;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopConsume?.();
    this.cancelWait?.();
    await this.running;
  }
}
