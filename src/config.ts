// Configuration: the environment is read once, here, validated and frozen. Nothing deeper in the
// code reads process.env.
import { existsSync } from 'node:fs';
import cron from 'node-cron';
import path from 'node:path';
import { z } from 'zod';
import { NAME_RE } from './domain/schemas.js';
import { parseDuration } from './domain/duration.js';
import { ConfigError } from './errors.js';
import { CONSUMER_NAME_RE, consumerNameOf, natsSettings, type NatsSettings } from './config-nats.js';
import { hostname } from 'node:os';


const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const aliasMap = z.string().transform((text, ctx) => {
  if (text.trim() === '') return {} as Record<string, string>;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not valid JSON (${(err as Error).message}); expected e.g. {"node-2":"chelsty-infra"}` });
    return z.NEVER;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object of alias → node name' });
    return z.NEVER;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' || !NAME_RE.test(v) || !NAME_RE.test(k)) {
      ctx.addIssue({ code: 'custom', message: `entry ${JSON.stringify(k)} → ${JSON.stringify(v)} is not a pair of node names` });
      return z.NEVER;
    }
    out[k] = v;
  }
  return out;
});

const idList = z.string().transform((text, ctx) => {
  const ids = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of ids) {
    if (!/^-?\d+$/.test(id)) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(id)} is not a numeric Telegram user id` });
      return z.NEVER;
    }
  }
  return ids.map(Number);
});

const tokenPairs = z.string().transform((text, ctx) => {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const node = part.slice(0, eq);
    const token = part.slice(eq + 1);
    if (eq < 1 || !NAME_RE.test(node) || token.length < 16) {
      ctx.addIssue({ code: 'custom', message: 'must be node=token pairs separated by commas, each token at least 16 characters' });
      return z.NEVER;
    }
    out[node] = token;
  }
  return out;
});

const optionalString = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === '' ? undefined : s.trim()));

/** Every variable, its default and its check. docs/operator/configuration.md lists the same table (a test compares them). */
const EnvSchema = z.object({
  HOMELAB_ROOT: z.string().min(1).default('./var/homelab'),
  HOSTS_DIR: z.string().min(1).default('./hosts'),
  PORT: intIn(0, 65535).default(18180),
  HOST: z.string().min(1).default('127.0.0.1'),
  NODE_ALIAS_MAP: aliasMap.default({}),
  RECONCILE_INTERVAL_S: intIn(1, 86_400).default(30),
  AGENT_SILENT_AFTER_S: intIn(1, 7 * 86_400).default(300),
  EVENT_MAX_FUTURE_S: intIn(1, 86_400).default(300),
  WORLD_PRUNE_AFTER_H: intIn(1, 24 * 365).default(72),
  VERIFY_AFTER_S: intIn(1, 86_400).default(120),
  LOG_TAIL_LINES: intIn(1, 200).default(30),
  ACTION_TIMEOUT_S: intIn(1, 86_400).default(300),
  SHUTDOWN_GRACE_S: intIn(0, 3600).default(25),
  MISSING_GRACE_S: intIn(0, 86_400).optional(),
  OBSERVER_CHUNK_KB: intIn(4, 1024 * 1024).default(1024),
  TELEGRAM_BOT_TOKEN: optionalString.pipe(
    z
      .string()
      .regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'does not look like a bot token from @BotFather (digits:letters)')
      .optional(),
  ),
  TELEGRAM_CHAT_ID: optionalString.pipe(z.string().regex(/^-?\d+$|^@\w+$/, 'must be a numeric chat id or @channel').optional()),
  TELEGRAM_ADMIN_IDS: idList.default([]),
  TELEGRAM_THREAD_ID: intIn(1, 2_147_483_647).optional(),
  TELEGRAM_API_ROOT: z.url({ message: 'must be a URL such as https://api.telegram.org' }).default('https://api.telegram.org'),
  TELEGRAM_LIFECYCLE_MESSAGES: z.enum(['on', 'off'], { message: 'must be on or off' }).default('on'),
  TELEGRAM_POLL_TIMEOUT_S: intIn(1, 50).default(30),
  DIGEST_CRON: z
    .string()
    .min(1)
    .refine((x) => cron.validate(x), 'is not a cron expression of 5 or 6 fields, e.g. "0 8 * * *" for 08:00 every day')
    .default('0 8 * * *'),
  TZ: z.string().min(1).default('UTC'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  INGEST_TOKENS: tokenPairs.default({}),
  SSH_KEY_PATH: optionalString,
  SSH_AUTH_SOCK: optionalString,
  SSH_KNOWN_HOSTS: optionalString,
  UPDATE_CHECK_INTERVAL_H: intIn(1, 24 * 30).default(6),
  HEARTBEAT_URL: optionalString.pipe(z.url({ message: 'must be a URL: a healthchecks.io check (https://hc-ping.com/<uuid>) or an Uptime Kuma push URL (…/api/push/<token>)' }).optional()),
  HEARTBEAT_KIND: optionalString.pipe(z.enum(['healthchecks', 'kuma'], { message: 'must be healthchecks or kuma' }).optional()),
  HEARTBEAT_INTERVAL_S: intIn(10, 3600).default(60),
  EVENTS_RETENTION_DAYS: intIn(0, 36_500).default(30),
  ACTIONS_RETENTION_DAYS: intIn(0, 36_500).default(90),
  ACTIONS_ARCHIVE: z.enum(['0', '1'], { message: 'must be 1 (archive removed actions) or 0' }).default('0'),
  INSECURE_REGISTRIES: z
    .string()
    .transform((text, ctx) => {
      const list = text.split(',').map((x) => x.trim()).filter(Boolean);
      for (const r of list) {
        if (!/^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/.test(r)) {
          ctx.addIssue({ code: 'custom', message: `${JSON.stringify(r)} is not host[:port]; list registries as host[:port] separated by commas, without http://` });
          return z.NEVER;
        }
      }
      return list;
    })
    .default([]),
  DOCKER_CONFIG: optionalString,
  NATS_URL: optionalString,
  NATS_CREDS: optionalString,
  NATS_NKEY: optionalString,
  NATS_TLS_CA: optionalString,
  NATS_TLS_CERT: optionalString,
  NATS_TLS_KEY: optionalString,
  LEASE_TTL_S: intIn(3, 3600).default(10),
  CONTROL_PLANE_ID: optionalString.pipe(z.string().regex(CONSUMER_NAME_RE, 'must be letters, digits, - and _ (at most 64): the name of its JetStream consumer').optional()),
});

/** The names of every variable `loadConfig` reads (docs/operator/configuration.md lists them). */
export const ENV_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

/** Each variable's default as the environment would spell it (undefined: no default). */
export function envDefaults(): Record<string, string | undefined> {
  const parsed = EnvSchema.parse({}) as Record<string, unknown>;
  const out: Record<string, string | undefined> = {};
  for (const key of ENV_VARIABLES) {
    const v = parsed[key];
    out[key] = v === undefined ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

export interface Config {
  homelabRoot: string;
  hostsDir: string;
  port: number;
  host: string;
  aliases: Readonly<Record<string, string>>;
  /** Events stamped further ahead of this machine's clock are malformed (ms). */
  maxFutureMs: number;
  reconcileIntervalS: number;
  agentSilentAfterS: number;
  worldPruneAfterH: number;
  verifyAfterS: number;
  /** Lines of each container's logs kept as an action's evidence. */
  logTailLines: number;
  actionTimeoutS: number;
  /** A node's services count as missing only this long after its first event (s). */
  missingGraceS: number;
  /** How long a stop waits for an action under way before recording it interrupted (s). */
  shutdownGraceS: number;
  observerChunkBytes: number;
  telegram: {
    token: string | undefined;
    chatId: string | undefined;
    adminIds: readonly number[];
    apiRoot: string;
    /** The forum topic of a supergroup every message goes to. */
    threadId: number | undefined;
    /** A quiet message at each start (after a gap: what changed) and at a clean stop (TELEGRAM_LIFECYCLE_MESSAGES). */
    lifecycleMessages: boolean;
    /** getUpdates' long-poll timeout; the polling watchdog restarts a poll silent for 3× it. */
    pollTimeoutS: number;
  };
  digestCron: string;
  tz: string;
  logLevel: string;
  ingestTokens: Readonly<Record<string, string>>;
  /** knownHosts: the OpenSSH known_hosts file every ssh:// target's host key must be listed in. */
  ssh: { keyPath: string | undefined; authSock: string | undefined; knownHosts: string };
  /** The dead-man's switch (loops/heartbeat.ts): where to ping, in which dialect, how often. */
  heartbeat: { url: string; kind: 'healthchecks' | 'kuma'; intervalMs: number } | undefined;
  /**
   * What retention keeps (docs/design/files.md "Retention"): event days and finished actions, in
   * days (0: everything, for ever); `archive`: removed actions go to archive/actions-YYYY-MM.jsonl.gz.
   */
  retention: { eventsDays: number; actionsDays: number; archive: boolean };
  updates: {
    intervalMs: number;
    /** Registries spoken to over plain HTTP besides loopback ones. */
    insecure: readonly string[];
    /** The directory whose config.json holds registry credentials (DOCKER_CONFIG; read by docker/registry.ts). */
    dockerConfig: string | undefined;
  };
  /** Events over NATS JetStream (NATS_URL and its credentials; docs/operator/scale-out.md), and this control plane's name there. */
  nats: NatsSettings | undefined;
  controlPlaneId: string;
  /** With NATS: the leader lease's time to live (docs/design/leader.md). */
  leaseTtlS: number;
}


function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Reads the environment once. Throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty values count as unset, as in a compose env_file with `VAR=`.
  const input: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = EnvSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    throw new ConfigError(variable, `${issue.message} (got ${JSON.stringify(redact(variable, input[variable]))})`);
  }
  const e = parsed.data;
  if (e.TELEGRAM_BOT_TOKEN && !e.TELEGRAM_CHAT_ID) {
    throw new ConfigError('TELEGRAM_CHAT_ID', 'is required when TELEGRAM_BOT_TOKEN is set (the chat that receives action messages; see README "Telegram in 3 steps")');
  }
  if (e.TELEGRAM_THREAD_ID !== undefined && e.TELEGRAM_CHAT_ID && !/^-|^@/.test(e.TELEGRAM_CHAT_ID)) {
    throw new ConfigError('TELEGRAM_THREAD_ID', 'forum topics exist only in supergroups: TELEGRAM_CHAT_ID must then be a group id (negative, -100…) or @name');
  }
  if (e.SSH_KEY_PATH && !existsSync(e.SSH_KEY_PATH)) throw new ConfigError('SSH_KEY_PATH', `no such file ${JSON.stringify(e.SSH_KEY_PATH)}`);
  if (!isValidTimeZone(e.TZ)) throw new ConfigError('TZ', `unknown time zone ${JSON.stringify(e.TZ)}; use an IANA name such as Europe/Warsaw`);
  return deepFreeze({
    homelabRoot: path.resolve(e.HOMELAB_ROOT),
    hostsDir: path.resolve(e.HOSTS_DIR),
    port: e.PORT,
    host: e.HOST,
    aliases: e.NODE_ALIAS_MAP,
    maxFutureMs: e.EVENT_MAX_FUTURE_S * 1000,
    reconcileIntervalS: e.RECONCILE_INTERVAL_S,
    agentSilentAfterS: e.AGENT_SILENT_AFTER_S,
    worldPruneAfterH: e.WORLD_PRUNE_AFTER_H,
    verifyAfterS: e.VERIFY_AFTER_S,
    logTailLines: e.LOG_TAIL_LINES,
    actionTimeoutS: e.ACTION_TIMEOUT_S,
    shutdownGraceS: e.SHUTDOWN_GRACE_S,
    missingGraceS: e.MISSING_GRACE_S ?? Math.max(60, 2 * e.RECONCILE_INTERVAL_S),
    observerChunkBytes: e.OBSERVER_CHUNK_KB * 1024,
    telegram: {
      token: e.TELEGRAM_BOT_TOKEN,
      chatId: e.TELEGRAM_CHAT_ID,
      adminIds: e.TELEGRAM_ADMIN_IDS,
      apiRoot: e.TELEGRAM_API_ROOT.replace(/\/+$/, ''),
      threadId: e.TELEGRAM_THREAD_ID,
      lifecycleMessages: e.TELEGRAM_LIFECYCLE_MESSAGES === 'on',
      pollTimeoutS: e.TELEGRAM_POLL_TIMEOUT_S,
    },
    digestCron: e.DIGEST_CRON,
    tz: e.TZ,
    logLevel: e.LOG_LEVEL,
    ingestTokens: e.INGEST_TOKENS,
    ssh: { keyPath: e.SSH_KEY_PATH, authSock: e.SSH_AUTH_SOCK, knownHosts: path.resolve(e.SSH_KNOWN_HOSTS ?? path.join(e.HOMELAB_ROOT, 'ssh', 'known_hosts')) },
    heartbeat: e.HEARTBEAT_URL
      ? { url: e.HEARTBEAT_URL, kind: e.HEARTBEAT_KIND ?? (/\/api\/push\//.test(e.HEARTBEAT_URL) ? 'kuma' : 'healthchecks'), intervalMs: e.HEARTBEAT_INTERVAL_S * 1000 }
      : undefined,
    retention: { eventsDays: e.EVENTS_RETENTION_DAYS, actionsDays: e.ACTIONS_RETENTION_DAYS, archive: e.ACTIONS_ARCHIVE === '1' },
    updates: {
      intervalMs: e.UPDATE_CHECK_INTERVAL_H * 3600_000,
      insecure: e.INSECURE_REGISTRIES,
      dockerConfig: e.DOCKER_CONFIG ? path.resolve(e.DOCKER_CONFIG) : undefined,
    },
    nats: natsSettings(e),
    controlPlaneId: e.CONTROL_PLANE_ID ?? consumerNameOf(hostname()),
    leaseTtlS: e.LEASE_TTL_S,
  });
}



/** The node agent's settings: each a flag of `control-plane agent` or its environment variable. */
export interface AgentConfig {
  node: string;
  servicesFile: string;
  push: { url: string; token: string } | undefined;
  /** With NATS_URL (and no push URL): events go to NATS JetStream. */
  nats: NatsSettings | undefined;
  eventsDir: string;
  intervalMs: number;
  diskPaths: string[];
  dockerSocket: string;
  stateDir: string;
}

/** What each agent setting is called as a flag and as a variable (errors name both). */
export const AGENT_SETTINGS = {
  node: ['--node', 'AGENT_NODE'],
  services: ['--services', 'AGENT_SERVICES'],
  eventsDir: ['--events-dir', 'AGENT_EVENTS_DIR'],
  push: ['--push', 'AGENT_PUSH_URL'],
  token: ['--token', 'AGENT_TOKEN'],
  interval: ['--interval', 'AGENT_INTERVAL_S'],
  diskPaths: ['--disk-paths', 'AGENT_DISK_PATHS'],
  dockerSocket: ['--docker-socket', 'AGENT_DOCKER_SOCKET'],
  stateDir: ['--state-dir', 'AGENT_STATE_DIR'],
} as const;

/**
 * Reads and checks the agent's settings: a flag wins over its variable; the shared settings
 * (HOMELAB_ROOT, HOSTS_DIR, LOG_LEVEL) come from `base`. Throws ConfigError naming the setting.
 */
export function loadAgentConfig(base: Config, env: NodeJS.ProcessEnv, flags: Partial<Record<keyof typeof AGENT_SETTINGS, string>>): AgentConfig {
  const get = (k: keyof typeof AGENT_SETTINGS): string | undefined => {
    const v = flags[k] ?? env[AGENT_SETTINGS[k][1]];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const name = (k: keyof typeof AGENT_SETTINGS) => `${AGENT_SETTINGS[k][1]} (${AGENT_SETTINGS[k][0]})`;
  const node = get('node');
  if (!node) throw new ConfigError(name('node'), "is required: the node's name, as in hosts/<node>/");
  if (!NAME_RE.test(node)) throw new ConfigError(name('node'), `${JSON.stringify(node)} is not a node name (letters, digits, . _ -)`);
  const url = get('push');
  const token = get('token');
  if (url !== undefined && !/^https?:\/\/\S+$/.test(url)) throw new ConfigError(name('push'), `must be an http(s) URL such as http://100.64.0.1:18180/ingest/events (got ${JSON.stringify(url)})`);
  if (url !== undefined && !token) throw new ConfigError(name('token'), "is required with AGENT_PUSH_URL: this node's token from the control plane's INGEST_TOKENS");
  if (url !== undefined && base.nats) throw new ConfigError(name('push'), 'and NATS_URL are both set: the agent sends its events one way, over HTTP or over NATS');
  const interval = get('interval') ?? '30';
  const intervalMs = durationSettingMs(interval);
  if (!Number.isFinite(intervalMs) || intervalMs < 1000) throw new ConfigError(name('interval'), `${JSON.stringify(interval)} is not a duration of at least 1 s (e.g. 30, 30s, 2m)`);
  const diskPaths = (get('diskPaths') ?? '/').split(',').map((p) => p.trim()).filter(Boolean);
  if (diskPaths.some((p) => !path.isAbsolute(p))) throw new ConfigError(name('diskPaths'), `must be absolute paths separated by commas (got ${JSON.stringify(get('diskPaths'))})`);
  return {
    node,
    servicesFile: path.resolve(get('services') ?? path.join(base.hostsDir, node, 'services.yaml')),
    push: url !== undefined ? { url, token: token! } : undefined,
    nats: base.nats,
    eventsDir: path.resolve(get('eventsDir') ?? path.join(base.homelabRoot, 'events')),
    intervalMs,
    diskPaths,
    dockerSocket: get('dockerSocket') ?? '/var/run/docker.sock',
    stateDir: path.resolve(get('stateDir') ?? path.join(base.homelabRoot, 'agent', node)),
  };
}

/** A duration setting in ms: plain digits are seconds, else `30s`, `2m`, `1h30m`; NaN when it is not one. */
export function durationSettingMs(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  try {
    return parseDuration(t);
  } catch {
    return NaN;
  }
}


/** Secrets are never echoed back, not even in an error about them. */
function redact(variable: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (variable === 'TELEGRAM_BOT_TOKEN' || variable === 'INGEST_TOKENS') return `<${value.length} characters, hidden>`;
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
