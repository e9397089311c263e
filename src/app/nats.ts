// Events over NATS JetStream, when NATS_URL is set (docs/operator/scale-out.md): the link and the
// control plane's durable consumer, as one component of the Lifecycle.
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { NatsEvents } from '../nats/events.js';
import { NatsLink } from '../nats/link.js';
import type { Layout } from '../store/paths.js';
import type { Clock } from '../time/clock.js';
import type { Component } from './lifecycle.js';

export interface Nats {
  link: NatsLink;
  events: NatsEvents;
}

/** What /healthz says of NATS. */
export function natsHealth(n: Nats): { state: string; problem: string | undefined; consumer: string } & NatsEvents['stats'] {
  return { state: n.link.state, problem: n.link.problem, consumer: n.events.consumer, ...n.events.stats };
}

export function buildNats(config: Config, l: Layout, log: Logger, clock: Clock): Nats | undefined {
  if (!config.nats) return undefined;
  const child = log.child({ component: 'nats' });
  return {
    link: new NatsLink(config.nats, `control-plane ${config.controlPlaneId}`, child, clock),
    events: new NatsEvents({ eventsDir: l.events, aliases: config.aliases, retentionDays: config.retention.eventsDays, consumer: config.controlPlaneId, log: child, clock }),
  };
}

/** Connects (refused credentials: exit 2; a server away: started, tried again) and reads the stream once connected. */
export function natsComponent(n: Nats): Component {
  return {
    name: 'nats',
    stopBudgetMs: 3000,
    start: async () => {
      await n.link.start();
      n.link.onReady((nc) => n.events.begin(nc));
    },
    stop: async () => {
      await n.events.stop();
      await n.link.stop();
    },
  };
}
