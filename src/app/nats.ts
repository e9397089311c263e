// NATS JetStream, when NATS_URL is set (docs/operator/scale-out.md): the link with the actions in
// KV (one component, started before the loops), and the control plane's durable consumer of the
// events (another, started after the watchers).
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { NatsEvents } from '../nats/events.js';
import { NatsLink } from '../nats/link.js';
import { KvActionStore } from '../nats/actions-kv.js';
import type { Layout } from '../store/paths.js';
import type { Clock } from '../time/clock.js';
import type { Component } from './lifecycle.js';

export interface Nats {
  link: NatsLink;
  events: NatsEvents;
  actions: KvActionStore;
}

/** How long a start waits for the actions bucket to be read once NATS answers (the loops need it). */
const ACTIONS_READ_MS = 15_000;

/** What /healthz says of NATS: up only once the actions bucket is read too (the loops need it). */
export function natsHealth(n: Nats): { state: string; problem: string | undefined; consumer: string; actions: string } & NatsEvents['stats'] {
  const reading = n.link.state === 'up' && !n.actions.loaded;
  return {
    state: reading ? 'reading' : n.link.state,
    problem: n.link.problem ?? (reading ? n.actions.unavailable().message : undefined),
    consumer: n.events.consumer,
    actions: n.actions.loaded ? 'read' : 'not read yet',
    ...n.events.stats,
  };
}

export function buildNats(config: Config, l: Layout, log: Logger, clock: Clock): Nats | undefined {
  if (!config.nats) return undefined;
  const child = log.child({ component: 'nats' });
  return {
    link: new NatsLink(config.nats, `control-plane ${config.controlPlaneId}`, child, clock),
    events: new NatsEvents({ eventsDir: l.events, aliases: config.aliases, retentionDays: config.retention.eventsDays, consumer: config.controlPlaneId, log: child, clock }),
    actions: new KvActionStore({ log: log.child({ component: 'actions' }), clock }),
  };
}

/**
 * Connects (refused credentials: exit 2; a server away: started, tried again) and reads the actions
 * bucket; with NATS up, the start waits for that read, so the loops begin on the actions as they are.
 */
export function natsComponent(n: Nats, log: Logger): Component {
  return {
    name: 'nats',
    stopBudgetMs: 3000,
    start: async () => {
      await n.link.start();
      n.link.onReady((nc) => n.actions.begin(nc));
      if (n.link.state !== 'up') return;
      await n.actions.ready(ACTIONS_READ_MS).catch((err: Error) => log.warn({ err }, `${err.message}; the loops wait for it`));
    },
    stop: async () => {
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
