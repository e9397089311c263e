// NATS JetStream, when NATS_URL is set (docs/operator/scale-out.md): the link with the actions in
// KV (one component, started before the loops), and the control plane's durable consumer of the
// events (another, started after the watchers).
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { NatsEvents } from '../nats/events.js';
import { NatsLink } from '../nats/link.js';
import { KvActionStore } from '../nats/actions-kv.js';
import { Lease } from '../nats/lease.js';
import { KvDocs } from '../nats/docs-kv.js';
import { KvEvidence } from '../nats/evidence-kv.js';
import { KvOutbox } from '../nats/outbox-kv.js';
import { bucketReplicasNote } from '../nats/kv-bucket.js';
import type { Layout } from '../store/paths.js';
import { withDeadline, type Clock } from '../time/clock.js';
import type { Component } from './lifecycle.js';

export interface Nats {
  link: NatsLink;
  events: NatsEvents;
  actions: KvActionStore;
  lease: Lease;
  /** Silences, maintenance, cooldowns, heal budgets, notices, confirmations (bucket HOMELAB_STATE). */
  docs: KvDocs;
  /** The Telegram outbox's records (bucket HOMELAB_OUTBOX). */
  outbox: KvOutbox;
  /** The actions' evidence (bucket HOMELAB_STATE). */
  evidence: KvEvidence;
}

/** How long a start waits for the actions bucket to be read once NATS answers (the loops need it). */
const ACTIONS_READ_MS = 15_000;

/** What /healthz says of NATS: up only once the actions bucket is read too (the loops need it). */
export function natsHealth(n: Nats): { state: string; problem: string | undefined; consumer: string; actions: string; role: string; epoch: number; leader: string | null } & NatsEvents['stats'] {
  const reading = n.link.state === 'up' && !n.actions.loaded;
  return {
    role: n.lease.leading() ? 'leader' : 'standby',
    epoch: n.lease.epoch,
    leader: n.lease.holder ?? null,
    state: reading ? 'reading' : n.link.state,
    problem: n.link.problem ?? (reading ? n.actions.unavailable().message : undefined),
    consumer: n.events.consumer,
    actions: n.actions.loaded ? 'read' : 'not read yet',
    ...n.events.stats,
  };
}

/** `onLost`: what the process does when it loses the leader lease it held (`run`: exit 1, to start again as a standby). */
export function buildNats(config: Config, l: Layout, log: Logger, clock: Clock, onLost: (why: string) => void = () => {}): Nats | undefined {
  if (!config.nats) return undefined;
  const child = log.child({ component: 'nats' });
  const link = new NatsLink(config.nats, `control-plane ${config.controlPlaneId}`, child, clock);
  // While the link is down the state documents and evidence answer at once (the last read, or an
  // error), not after a request's timeout: a pass under way when NATS went would hold a stop for it.
  const up = () => link.state === 'up';
  return {
    link,
    events: new NatsEvents({ eventsDir: l.events, aliases: config.aliases, retentionDays: config.retention.eventsDays, consumer: config.controlPlaneId, log: child, clock }),
    actions: new KvActionStore({ log: log.child({ component: 'actions' }), clock }),
    lease: new Lease({ id: config.controlPlaneId, ttlS: config.leaseTtlS, clock, log: log.child({ component: 'leader' }), onLost }),
    docs: new KvDocs(up),
    outbox: new KvOutbox(log.child({ component: 'telegram' })),
    evidence: new KvEvidence(up),
  };
}

/**
 * Connects (refused credentials: exit 2; a server away: started, tried again) and reads the actions
 * bucket; with NATS up, the start waits for that read, so the loops begin on the actions as they are.
 */
export function natsComponent(n: Nats, log: Logger, clock: Clock): Component {
  return {
    name: 'nats',
    stopBudgetMs: 3000,
    start: async () => {
      await n.link.start();
      n.link.onReady((nc) => {
        const note = bucketReplicasNote(nc);
        if (note) log.warn({ component: 'nats' }, note);
        n.docs.begin(nc);
        n.outbox.begin(nc);
        n.evidence.begin(nc);
        n.actions.begin(nc);
        n.lease.begin(nc);
      });
      if (n.link.state !== 'up') return;
      await n.actions.ready(ACTIONS_READ_MS).catch((err: Error) => log.warn({ err }, `${err.message}; the loops wait for it`));
      await withDeadline(clock, ACTIONS_READ_MS, n.lease.firstLook(), () => new Error('the leader lease was not looked at yet')).catch((err: Error) => log.warn(`${err.message}; this control plane is a standby until it is`));
    },
    stop: async () => {
      // NATS away: the connection is closed first, so that nothing below waits for an answer that
      // cannot come (the lease then runs out on the server by itself).
      if (n.link.state !== 'up') await n.link.stop();
      // The lease goes back first: the leader-only parts stopped before this (components stop in reverse).
      await n.lease.stop();
      await n.actions.stop();
      await n.link.stop();
    },
  };
}

/** Reads the events stream once connected (after the watchers: its writes are seen as an agent's are). */
export function natsEventsComponent(n: Nats): Component {
  return {
    name: 'nats events',
    stopBudgetMs: 3000,
    start: async () => n.link.onReady((nc) => n.events.begin(nc)),
    stop: () => n.events.stop(),
  };
}

/**
 * A part only the leader runs (Telegram, the update checker): started when this process first takes
 * the leader lease, never in a standby. Without NATS there is no lease and it starts as it is.
 */
export function leaderOnly(c: Component, lease: Lease | undefined, log: Logger): Component {
  if (!lease) return c;
  let started: Promise<void> | undefined;
  return {
    name: c.name,
    ...(c.stopBudgetMs !== undefined ? { stopBudgetMs: c.stopBudgetMs } : {}),
    start: (signal) =>
      lease.onGained(() => {
        log.info(`${c.name}: starting, as the leader`);
        started = Promise.resolve(c.start(signal)).catch((err: unknown) => log.error({ err }, `${c.name} did not start as the leader`));
      }),
    stop: async () => {
      if (!started) return;
      await started;
      await c.stop();
    },
  };
}
