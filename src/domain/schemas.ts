// Zod schemas for every on-disk and wire shape. Types are inferred from them so that the
// validation and the types can never disagree.
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { TimeIntervalSchema, type TimeInterval } from './time-intervals.js';

/** Node and service names become parts of file names and action ids. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Docker's own rule for container names. */
export const CONTAINER_RE = /^\/?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** An agent instance id. */
export const AGENT_RE = /^[A-Za-z0-9._-]{1,64}$/;

export const Name = z.string().regex(NAME_RE, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$');

/** Lines longer than this are skipped before parsing (docs/design/observer.md). */
export const MAX_EVENT_LINE_BYTES = 64 * 1024;

export const EventSchema = z.object({
  ts: z.iso.datetime({ offset: true, message: 'ts must be an ISO 8601 date-time with a zone' }),
  node: Name,
  type: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'type must be a word of letters, digits, _ . : -'),
  service: Name.optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
  seq: z.number().int().nonnegative().optional(),
  /**
   * The agent instance that wrote it (a new id at each agent start): an event's identity is
   * node + agent + seq (docs/design/observer.md). Absent in events of older agents.
   */
  agent: z.string().regex(AGENT_RE, 'agent must be 1-64 letters, digits, . _ -').optional(),
});
export type NodeEvent = z.infer<typeof EventSchema>;

/** `unknown`: the node's agent cannot reach its Docker Engine, so nothing is known of its services. */
export const ServiceStatus = z.enum(['healthy', 'unhealthy', 'unknown']);
export type ServiceStatus = z.infer<typeof ServiceStatus>;

export const IncidentSchema = z.object({
  /** The reason the incident began with. */
  reason: z.string().nullable(),
  /** The reason it ended with, when that was another one. */
  last_reason: z.string().nullable().optional(),
  started_at: z.string().nullable(),
  resolved_at: z.string(),
});

export const ServiceStateSchema = z.object({
  node: Name,
  service: Name,
  status: ServiceStatus,
  reason: z.string().nullable(),
  since: z.string(),
  last_event_at: z.string(),
  last_healthy_at: z.string().nullable(),
  last_incident: IncidentSchema.nullable(),
  /** Timestamps (event time) of the most recent status changes, newest last. */
  changes: z.array(z.string()),
});
export type ServiceState = z.infer<typeof ServiceStateSchema>;

export const DiskPressure = z.enum(['high', 'normal']);

export const LinkSchema = z.object({ on: z.string().nullable(), container: z.string(), how: z.enum(['network', 'compose']) });
export type Link = z.infer<typeof LinkSchema>;

export const NodeStateSchema = z.object({
  node: Name,
  last_seen: z.string().nullable(),
  last_event_type: z.string().nullable(),
  disk_pressure: DiskPressure.nullable(),
  disk_used_pct: z.number().nullable(),
  disk_updated_at: z.string().nullable(),
  events_applied: z.number().int(),
  events_unknown: z.number().int(),
  /** The oldest event time seen from this node (absent in older files). */
  first_seen: z.string().nullable().optional(),
  /** What the agent's heartbeats say of the node's Docker Engine (absent in older files). */
  engine: z.enum(['reachable', 'unreachable']).nullable().optional(),
  /** Since when the engine has been in that state (event time). */
  engine_since: z.string().nullable().optional(),
  /** The newest heartbeat that said so (event time). */
  engine_checked_at: z.string().nullable().optional(),
  /**
   * Long-running agent instances that sent heartbeats for this node (an `--once` run does not
   * count): first and last heartbeat (event time) and the interval they announced.
   */
  agents: z.record(z.string(), z.object({ first: z.string(), last: z.string(), interval_s: z.number().nullable() })).optional(),
  /**
   * What the engine says each service depends on (agent/links.ts), by service: the newest report
   * (event time) and its links. A link whose `on` is null names a container services.yaml does not.
   */
  links: z.record(z.string(), z.object({ at: z.string(), on: z.array(LinkSchema) })).optional(),
});
export type NodeState = z.infer<typeof NodeStateSchema>;

export const WorldNodeSchema = NodeStateSchema.extend({
  agent: z.enum(['alive', 'silent']),
  /** Two or more agent instances running for this node at once: their ids (absent: one or none). */
  agents_running: z.array(z.string()).optional(),
});
export type WorldService = ServiceState;
export type WorldNode = z.infer<typeof WorldNodeSchema>;
export const WorldServicesFile = z.record(z.string(), ServiceStateSchema);
export const WorldNodesFile = z.record(z.string(), WorldNodeSchema);
export interface World {
  services: Record<string, WorldService>;
  nodes: Record<string, WorldNode>;
}

// ---------------------------------------------------------------------------------------------
// Desired state: hosts/<node>/services.yaml

const ContainerName = z.string().regex(CONTAINER_RE, 'is not a valid container name');

/**
 * What a newer image for a service's tag leads to (docs/design/updates.md): nothing (`off`, the
 * default), a notice (`notify`), an image_update action to approve (`approve`), or one approved
 * by policy (`auto`).
 */
export const UpdatePolicy = z.enum(['notify', 'approve', 'auto', 'off'], { message: 'must be one of notify, approve, auto, off' });
export type UpdatePolicy = z.infer<typeof UpdatePolicy>;

export interface HealPolicy {
  attempts: number;
  /** Only heals within this long count (null: every heal since the last reset). */
  withinMs: number | null;
  backoffMs: number;
  maxBackoffMs: number;
  resetAfterMs: number;
}

/** Today's cooldown figures: 3 heals, 10 min doubling to 6 h, reset after 30 min healthy. */
export const DEFAULT_HEAL: HealPolicy = { attempts: 3, withinMs: null, backoffMs: 600_000, maxBackoffMs: 6 * 3_600_000, resetAfterMs: 1_800_000 };

/** A duration as people type it: `10m`, `2h`, `1h30m` (domain/duration.ts). */
const DurationText = z.string().refine(
  (t) => {
    try {
      parseDuration(t);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a duration such as 90s, 10m, 2h or 1d (at most a year)' },
);

/**
 * A service's restart budget (domain/heal-budget.ts): per service, or a node default under
 * `docker:`; each field left out is the node's, then the built-in default.
 */
export const HealSchema = z.strictObject({
  attempts: z.number({ message: 'must be a whole number from 1 to 100' }).int('must be a whole number from 1 to 100').min(1, 'must be at least 1').max(100, 'must be at most 100').optional(),
  within: DurationText.optional(),
  backoff: DurationText.optional(),
  max_backoff: DurationText.optional(),
  reset_after: DurationText.optional(),
});
type HealText = z.infer<typeof HealSchema>;

export const DesiredServiceSchema = z.strictObject({
  containers: z.array(ContainerName).min(1, 'needs at least one container').optional(),
  monitor: z.boolean().optional(),
  auto_approve: z.boolean().optional(),
  updates: UpdatePolicy.optional(),
  /** Services of this node it needs: healed first, then it (domain/dependencies.ts). */
  depends_on: z.array(z.string().min(1, 'must be a service name')).optional(),
  heal: HealSchema.optional(),
  /** This service's own maintenance windows (beside its node's). */
  maintenance: z.array(TimeIntervalSchema, { message: 'must be a list of windows (- times: …, weekdays: …)' }).optional(),
});

/**
 * TLS to a `tcp://` engine (docs/operator/remote-engines.md): the CA that signed the engine's
 * certificate and this client's certificate and key, or a directory holding ca.pem, cert.pem and
 * key.pem as DOCKER_CERT_PATH does. Relative paths are relative to the node's folder.
 */
const TlsFiles = z
  .strictObject({
    dir: z.string().min(1).optional(),
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    verify: z.boolean().optional(),
  })
  .refine((t) => t.verify !== false, { message: 'false is not supported: the control plane always checks the engine against the CA (leave verify out)', path: ['verify'] })
  .refine((t) => (t.dir !== undefined) !== (t.ca !== undefined || t.cert !== undefined || t.key !== undefined), { message: 'set either dir (holding ca.pem, cert.pem, key.pem) or ca, cert and key' })
  .refine((t) => t.dir !== undefined || (t.ca !== undefined && t.cert !== undefined && t.key !== undefined), { message: 'needs all three of ca, cert and key (or dir)' });

const DockerTarget = z
  .strictObject({
    socket: z.string().min(1).optional(),
    url: z
      .string()
      .regex(/^(ssh|tcp|https?):\/\/\S+$/, 'must be ssh://user@host[:port], tcp://host:port or http(s)://host:port')
      .optional(),
    /**
     * When set, disk_cleanup prunes only stopped containers and dangling images carrying this
     * label (`key` or `key=value`) and leaves the build cache alone (its prune has no label filter).
     */
    prune_label: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}(=[^\s,]{0,255})?$/, 'must be a Docker label filter: key or key=value')
      .optional(),
    /** The node's default for its services' `updates:`. */
    updates: UpdatePolicy.optional(),
    /** The node's default for its services' `heal:` budget. */
    heal: HealSchema.optional(),
    /** The node's maintenance windows (every service of it). */
    maintenance: z.array(TimeIntervalSchema, { message: 'must be a list of windows (- times: …, weekdays: …)' }).optional(),
    tls: TlsFiles.optional(),
  })
  .refine((d) => !(d.socket && d.url), { message: 'set either socket or url, not both' })
  .refine((d) => !d.tls || /^(tcp|https):\/\//.test(d.url ?? ''), { message: 'goes with url: tcp://host:2376 (an ssh:// or socket target is not TLS)', path: ['tls'] });

export const DesiredFileSchema = z.strictObject({
  docker: DockerTarget.optional(),
  services: z.record(Name, DesiredServiceSchema.nullable()),
});
export type DesiredFile = z.infer<typeof DesiredFileSchema>;

export interface DesiredService {
  node: string;
  service: string;
  containers: string[];
  monitor: boolean;
  auto_approve: boolean;
  /** The service's own `updates:`, else its node's `docker.updates`, else `off`. */
  updates: UpdatePolicy;
  /** The services of this node it depends on (services.yaml's `depends_on`). */
  depends_on: string[];
  /** Its restart budget: its own `heal:` over its node's over the defaults. */
  heal: HealPolicy;
  /** Its own maintenance windows (its node's are the node's). */
  maintenance: TimeInterval[];
}
export interface DesiredNode {
  node: string;
  docker: { socket?: string; url?: string; prune_label?: string; tls?: TlsPaths };
  services: Record<string, DesiredService>;
  /** The node's maintenance windows (services.yaml: docker.maintenance). */
  maintenance: TimeInterval[];
}
/** Keyed by node name. */
export type DesiredState = Record<string, DesiredNode>;

/** The three files of a TLS target, as paths (relative ones still relative to the node's folder). */
export interface TlsPaths {
  ca: string;
  cert: string;
  key: string;
}

function tlsPaths(t: z.infer<typeof TlsFiles>): TlsPaths {
  if (t.dir !== undefined) return { ca: `${t.dir.replace(/\/+$/, '')}/ca.pem`, cert: `${t.dir.replace(/\/+$/, '')}/cert.pem`, key: `${t.dir.replace(/\/+$/, '')}/key.pem` };
  return { ca: t.ca!, cert: t.cert!, key: t.key! };
}

/**
 * What a service that names no dependencies or windows (most of them) shares: one frozen empty
 * list, not one each (50 000 services: 3 MB of heap; docs/benchmarks.md). Nothing changes a
 * desired state in place; frozen, a change would throw instead of reaching every service.
 */
const NONE = Object.freeze([]) as unknown as never[];

export function normalizeDesired(node: string, file: DesiredFile): DesiredNode {
  const services: Record<string, DesiredService> = {};
  // The node's budget, shared by its services without a `heal:` of their own.
  const nodeHeal = Object.freeze(healPolicy(file.docker?.heal, undefined));
  for (const [service, raw] of Object.entries(file.services)) {
    const s = raw ?? {};
    services[service] = {
      node,
      service,
      containers: (s.containers ?? [service]).map((c) => c.replace(/^\//, '')),
      monitor: s.monitor !== false,
      auto_approve: s.auto_approve === true,
      updates: s.updates ?? file.docker?.updates ?? 'off',
      depends_on: s.depends_on ?? NONE,
      heal: s.heal ? healPolicy(file.docker?.heal, s.heal) : nodeHeal,
      maintenance: s.maintenance ?? NONE,
    };
  }
  const target = file.docker?.url ? { url: file.docker.url, ...(file.docker.tls ? { tls: tlsPaths(file.docker.tls) } : {}) } : { socket: file.docker?.socket ?? '/var/run/docker.sock' };
  const docker = file.docker?.prune_label ? { ...target, prune_label: file.docker.prune_label } : target;
  return { node, docker, services, maintenance: file.docker?.maintenance ?? NONE };
}

function healPolicy(node: HealText | undefined, own: HealText | undefined): HealPolicy {
  const pick = <K extends keyof HealText>(k: K) => own?.[k] ?? node?.[k];
  const ms = (t: string | undefined, d: number) => (t === undefined ? d : parseDuration(t));
  const within = pick('within');
  return {
    attempts: pick('attempts') ?? DEFAULT_HEAL.attempts,
    withinMs: within === undefined ? null : parseDuration(within),
    backoffMs: ms(pick('backoff'), DEFAULT_HEAL.backoffMs),
    maxBackoffMs: Math.max(ms(pick('max_backoff'), DEFAULT_HEAL.maxBackoffMs), ms(pick('backoff'), DEFAULT_HEAL.backoffMs)),
    resetAfterMs: ms(pick('reset_after'), DEFAULT_HEAL.resetAfterMs),
  };
}

/** `<node>/<service>` split in two, or undefined for anything else. */
export function serviceTarget(target: string | undefined): { node: string; service: string } | undefined {
  const m = target ? /^([^/]+)\/([^/]+)$/.exec(target) : null;
  return m ? { node: m[1]!, service: m[2]! } : undefined;
}

/**
 * Why `target` (`node` or `node/service`) names nothing services.yaml knows, naming what exists;
 * undefined when it names a node (and service) of the desired state.
 */
export function unknownTarget(desired: DesiredState, target: string): string | undefined {
  const [node, service, ...rest] = target.split('/');
  if (!node || rest.length > 0) return `${JSON.stringify(target)} is not <node> or <node>/<service>`;
  const dn = desired[node];
  const list = (xs: string[]) => (xs.length ? xs.sort().join(', ') : 'none');
  if (!dn) return `no node ${JSON.stringify(node)} in hosts/ (nodes: ${list(Object.keys(desired))})`;
  if (service !== undefined && !dn.services[service]) return `no service ${JSON.stringify(service)} in hosts/${node}/services.yaml (services: ${list(Object.keys(dn.services))})`;
  return undefined;
}
