// The read-only web page and JSON API (fastify). buildServer() never listens: main does.
// Nothing here changes the system, except agents appending their own events to the ingest route.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACTION_STATES, statesFrom } from '../domain/actions.js';
import { checkIngestEvent } from '../domain/ingest.js';
import { NAME_RE } from '../domain/schemas.js';
import { restamp, type Summary } from '../domain/summary.js';
import type { Logger } from '../log.js';
import { sincePass, type RunnerStatus } from '../loops/runner.js';
import type { ActionBackend } from '../store/action-backend.js';
import { DEFAULT_QUERY_LIMIT } from '../store/action-queries.js';
import { fileStamp, readRegularFile } from '../store/atomic.js';
import { WorldFiles } from '../store/world.js';
import { appendEventLines } from '../store/events.js';
import type { Layout, StorageStatus } from '../store/paths.js';
import { aiContext } from './ai-context.js';
import type { Evidence } from '../store/evidence.js';
import { Metrics, type MetricsInput } from './metrics.js';
import { PAGE_CSP, renderPage } from './page.js';
import { representation, RepresentationCache } from './representations.js';
import { SummaryPublisher } from './summary-publisher.js';
import { realClock, type Clock } from '../time/clock.js';

export interface ApiDeps {
  layout: Layout;
  actions: ActionBackend;
  log: Logger;
  now: () => number;
  summary: () => Promise<Summary>;
  runners: () => readonly RunnerStatus[];
  metrics: () => Promise<MetricsInput>;
  /** Telegram's state for /healthz (shown, never a reason for a 503); undefined when the bot is off. */
  telegram?: () => { state: string; reason?: string; since?: string };
  /** Timers of the /summary publisher (default: the real clock). */
  clock?: Clock;
  /** The dead-man's switch's last ping (shown by /healthz, never a 503); undefined when it is off. */
  heartbeat?: () => { last_at: string | null; last_status: string | null; last_error?: string };
  /** The clock that never steps (Clock.monotonic), for how long since each loop's pass. */
  monotonic?: () => number;
  /** Nodes with two or more agent instances running at once (shown by /healthz, never a 503). */
  agentsRunning?: () => { node: string; instances: string[] }[];
  /** The registry /metrics is written from (the executor observes action durations into it). */
  exposition?: Metrics;
  ingestTokens: Readonly<Record<string, string>>;
  aliases: Readonly<Record<string, string>>;
  /** Largest accepted ingest body, bytes. */
  ingestBodyLimit?: number;
  /** NATS, when events come over it too: its state and counts (not up: a 503, "nats unreachable"). */
  nats?: () => { state: string; problem: string | undefined };
  /** Free space of HOMELAB_ROOT (absent: not checked). */
  storage?: () => Promise<StorageStatus>;
  /** The evidence stored beside an action (/ai-context shows it for open actions). */
  evidence?: (id: string, instance: string) => Promise<Evidence | undefined>;
  /**
   * A counter main bumps whenever what the read-only routes show changes (a world publish, an
   * action, notice or update change). With it, their bodies are built once per change (and at
   * most once a second where they print ages); without it, once per request.
   */
  generation?: () => number;
}

export type { MetricsInput };


function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function buildServer(deps: ApiDeps) {
  const exposition = deps.exposition ?? new Metrics();
  const app = Fastify({
    loggerInstance: deps.log,
    // Mirrors poll every 10 s: one log line per request would drown everything else.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.ingestBodyLimit ?? 1024 * 1024,
    return503OnClosing: true,
    // A stop cuts open requests (a mirror's poll, an agent's push) instead of waiting for them.
    forceCloseConnections: true,
    // A query string that fails its route's schema: one sentence naming the parameter.
    schemaErrorFormatter: (errors, dataVar) => {
      const e = errors[0]!;
      const field = e.instancePath.replace(/^\//, '') || String((e.params as { additionalProperty?: string }).additionalProperty ?? dataVar);
      if (field === 'state' && e.keyword === 'pattern') return new Error(`state must be one or more of open, all, ${ACTION_STATES.join(', ')}, separated by commas`);
      if (field === 'limit') return new Error('limit must be a whole number from 1 to 1000');
      return new Error(`${field} ${e.message ?? 'is not valid'}`);
    },
  });

  // Errors: a generic answer, details only in the log.
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const code = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (code === 500) deps.log.error({ err, url: req.url }, 'request failed');
    void reply.code(code).send({ error: code === 500 ? 'internal error' : code === 413 ? 'body too large' : err.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    return payload;
  });

  // NDJSON bodies for the ingest route arrive as text; parsed there.
  app.addContentTypeParser(['application/x-ndjson', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const cache = new RepresentationCache();
  // The summary object once per change; every second only its ages are stamped again.
  let summaryMemo: { generation: number; value: Promise<Summary> } | undefined;
  const summaryNow = (): Promise<Summary> => {
    if (!deps.generation) return deps.summary();
    const generation = deps.generation();
    if (summaryMemo?.generation !== generation) {
      const value = deps.summary();
      summaryMemo = { generation, value };
      value.catch(() => {
        if (summaryMemo?.value === value) summaryMemo = undefined;
      });
    }
    return summaryMemo.value.then((s) => restamp(s, deps.now()));
  };
  const versions: Versions = {
    changes: () => (deps.generation ? String(deps.generation()) : undefined),
    // Ages ("last event 12 s ago") and generated_at move with the clock: once a second.
    changesAndSecond: () => (deps.generation ? `${deps.generation()}:${Math.floor(deps.now() / 1000)}` : undefined),
  };
  const cached = { ...deps, summary: summaryNow };
  // With change signals, /summary is built off the request path (summary-publisher.ts).
  const publisher = deps.generation ? new SummaryPublisher({ summary: deps.summary, generation: deps.generation, now: deps.now, clock: deps.clock ?? realClock, log: deps.log }) : undefined;
  if (publisher) {
    // Started with the server, not with its construction: a start that fails before the server
    // listens leaves no timer behind.
    app.addHook('onReady', async () => publisher.start());
    app.addHook('onClose', async () => publisher.stop());
  }
  worldRoutes(app, cached, cache, versions, publisher);
  actionRoutes(app, cached, cache, versions);
  pageRoutes(app, cached, cache, versions);
  healthRoutes(app, deps, exposition);
  ingestRoute(app, deps);
  return app;
}

type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

/** The version keys of the cached bodies (undefined: not cached). */
interface Versions {
  changes: () => string | undefined;
  changesAndSecond: () => string | undefined;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** GET /summary and the world files, byte for byte, with ETags, gzip and brotli. */
function worldRoutes(app: App, deps: ApiDeps, cache: RepresentationCache, v: Versions, publisher: SummaryPublisher | undefined): void {
  app.get('/summary', async (req, reply) => {
    const rep = publisher ? await publisher.representation() : await cache.get('/summary', v.changesAndSecond(), async () => representation(JSON.stringify(await deps.summary()), JSON_TYPE));
    return cache.send(req, reply, rep);
  });

  for (const [route, file] of [
    ['/world/services.json', deps.layout.worldServices],
    ['/world/nodes.json', deps.layout.worldNodes],
    ['/world/updates.json', deps.layout.worldUpdates],
  ] as const) {
    app.get(route, async (req, reply) => {
      const rep = await cache.get(route, fileStamp(file), async () => representation((await readRegularFile(file)) ?? Buffer.from('{}\n'), JSON_TYPE));
      return cache.send(req, reply, rep);
    });
  }
}

/** GET /actions and /actions/:id. */
function actionRoutes(app: App, deps: ApiDeps, cache: RepresentationCache, v: Versions): void {
  // Query strings are checked by the route's schema; an unknown state or a bad limit is a 400.
  app.get(
    '/actions',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', pattern: `^(${[...ACTION_STATES, 'open', 'all'].join('|')})(,(${[...ACTION_STATES, 'open', 'all'].join('|')}))*$` },
            node: { type: 'string', pattern: NAME_RE.source },
            service: { type: 'string', pattern: NAME_RE.source },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query as { state?: string; node?: string; service?: string; limit?: number };
      const route = `/actions?${JSON.stringify([q.state, q.node, q.service, q.limit])}`;
      const rep = await cache.get(route, v.changes(), async () =>
        representation(JSON.stringify(await deps.actions.query({ states: statesFrom(q.state), node: q.node, service: q.service, limit: q.limit ?? DEFAULT_QUERY_LIMIT })), JSON_TYPE),
      );
      return cache.send(req, reply, rep);
    },
  );

  // One action: its open instance, or its newest finished one, with its history (as `actions show`).
  app.get('/actions/:id', { schema: { params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' } }, required: ['id'] } } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const a = await deps.actions.get(id);
    if (!a) return reply.code(404).send({ error: `no action ${id}` });
    return a;
  });
}

/** The evidence of each open action, by `<id>@<instance>`. */
async function openEvidence(deps: ApiDeps, s: Summary): Promise<Map<string, Evidence>> {
  const out = new Map<string, Evidence>();
  for (const a of [...s.actions.pending, ...s.actions.approved, ...s.actions.running]) {
    const e = await deps.evidence?.(a.id, a.instance);
    if (e) out.set(`${a.id}@${a.instance}`, e);
  }
  return out;
}

/** The page and /ai-context. */
function pageRoutes(app: App, deps: ApiDeps, cache: RepresentationCache, v: Versions): void {
  const worldFiles = new WorldFiles(deps.layout, deps.log);
  app.get('/ai-context', async (req, reply) => {
    const rep = await cache.get('/ai-context', v.changesAndSecond(), async () => {
      const s = await deps.summary();
      const recent = await deps.actions.finishedSince(new Date(deps.now() - 7 * 86_400_000).toISOString(), 20);
      const world = await worldFiles.read();
      return representation(aiContext(s, world, recent, deps.now(), await openEvidence(deps, s)), 'text/markdown; charset=utf-8');
    });
    return cache.send(req, reply, rep);
  });

  app.get('/', async (req, reply) => {
    const rep = await cache.get('/', v.changesAndSecond(), async () => {
      const s = await deps.summary();
      const world = await worldFiles.read();
      const recent = await deps.actions.finishedSince(new Date(deps.now() - 7 * 86_400_000).toISOString(), 15);
      return representation(renderPage(s, world, recent, deps.now(), await openEvidence(deps, s)), 'text/html; charset=utf-8');
    });
    reply.header('content-security-policy', PAGE_CSP);
    return cache.send(req, reply, rep);
  });
}

/** /healthz (503 only for storage, loops and NATS) and /metrics. */
function healthRoutes(app: App, deps: ApiDeps, exposition: Metrics): void {
  app.get('/healthz', async (_req, reply) => {
    const nowMono = (deps.monotonic ?? realClock.monotonic)();
    const loops = deps.runners().map((r) => {
      // A loop still in its first pass is judged from its start: not stale in its first seconds.
      // (Monotonic: a step of the wall clock makes no loop look stale.)
      const ago = sincePass(r, nowMono, deps.now());
      const stale = ago === null || ago > 3 * r.intervalMs;
      return {
        loop: r.name,
        ok: !stale,
        last_success_at: r.lastSuccessAt ? new Date(r.lastSuccessAt).toISOString() : null,
        last_duration_ms: r.lastDurationMs,
        consecutive_failures: r.consecutiveFailures,
        last_error: r.lastError,
        last_error_code: r.lastErrorCode ?? null,
      };
    });
    const storage = deps.storage ? await deps.storage().catch((err: Error) => ({ ok: false, free_bytes: 0, free_inodes: null, problem: `cannot check free space: ${err.message}` })) : undefined;
    // A write that failed for lack of space degrades at once, not only after 3 intervals.
    const full = loops.filter((l) => l.consecutive_failures > 0 && l.last_error_code === 'storage_full');
    const nats = deps.nats?.();
    const problems = [
      ...(storage && !storage.ok && storage.problem ? [storage.problem] : []),
      ...(nats && nats.state !== 'up' ? [nats.problem ?? 'nats unreachable'] : []),
      ...full.map((l) => `${l.loop} cannot write: ${l.last_error}`),
      ...loops.filter((l) => !l.ok).map((l) => `${l.loop} has not completed a pass for over 3 intervals`),
    ];
    const ok = problems.length === 0;
    // Telegram's troubles are shown, never a 503: Docker would restart a healthy control plane.
    const telegram = deps.telegram ? deps.telegram() : { state: 'off' };
    // Shown, never a 503: both agents' events are kept, the control plane works on.
    const warnings = (deps.agentsRunning?.() ?? []).map((a) => `two agents send heartbeats for ${a.node} at once (instances ${a.instances.join(', ')})`);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', problems, warnings, loops, telegram, heartbeat: deps.heartbeat ? deps.heartbeat() : { state: 'off' }, ...(nats ? { nats } : {}), ...(storage ? { storage } : {}) });
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(exposition.contentType);
    return exposition.render({ ...(await deps.metrics()), actions: await deps.actions.countsByType(), runners: deps.runners() });
  });
}

/** POST /ingest/events: an agent's own events, authenticated by its node's token. */
function ingestRoute(app: App, deps: ApiDeps): void {
  app.post('/ingest/events', async (req, reply) => {
    if (Object.keys(deps.ingestTokens).length === 0) return reply.code(404).send({ error: 'ingest is off (set INGEST_TOKENS)' });
    const auth = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (!token) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing bearer token' });
    const node = Object.entries(deps.ingestTokens).find(([, t]) => safeEqual(t, token))?.[0];
    if (!node) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unknown token' });
    let items: unknown[];
    if (typeof req.body === 'string') {
      const lines = req.body.split('\n').filter((l) => l.trim() !== '');
      items = [];
      for (const [i, line] of lines.entries()) {
        try {
          items.push(JSON.parse(line));
        } catch {
          return reply.code(400).send({ error: `line ${i + 1}: invalid JSON` });
        }
      }
    } else if (Array.isArray(req.body)) items = req.body;
    else if (req.body && typeof req.body === 'object') items = [req.body];
    else return reply.code(400).send({ error: 'body must be an event, an array of events, or NDJSON' });
    if (items.length === 0) return reply.code(400).send({ error: 'no events' });
    const lines: { ts: string; line: string }[] = [];
    for (const [i, item] of items.entries()) {
      const c = checkIngestEvent(item, node, deps.aliases);
      if (!c.ok) return reply.code(c.status).send({ error: `event ${i + 1}${c.error.startsWith('is ') ? ' ' : ': '}${c.error}` });
      lines.push({ ts: c.ts, line: c.line });
    }
    await appendEventLines(deps.layout.events, node, lines);
    return reply.code(202).send({ accepted: items.length });
  });
}

