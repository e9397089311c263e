import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiFixture, restartDraft, XSS, type ApiFixture } from '../support/api-fixture.js';
import { removeDir, tempDir } from '../support/helpers.js';
import { report } from '../support/soak.js';

const TOKEN_INFRA = 'infra-token-0123456789abcdef';
const TOKEN_PIHA = 'piha-token-0123456789abcdef0';
let root: string;
let f: ApiFixture;

beforeEach(async () => {
  root = await tempDir('hcp-api-');
  f = await apiFixture(root, { ingestTokens: { 'chelsty-infra': TOKEN_INFRA, piha: TOKEN_PIHA } });
});
afterEach(async () => {
  await f.app.close();
  await removeDir(root);
});

const draft = (id: string, service: string) => restartDraft(service, id);

describe('read-only routes', () => {
  it('GET /summary', async () => {
    await f.actions.create(draft('container-restart-chelsty-infra-zigbee2mqtt', 'zigbee2mqtt'));
    const r = await f.app.inject('/summary');
    expect(r.statusCode).toBe(200);
    const s = r.json();
    expect(s).toMatchObject({
      version: expect.any(String),
      generated_at: expect.any(String),
      services: { total: 6, unhealthy: 2, missing: 0 },
      actions: { counts: { pending: 1 }, pending: [expect.objectContaining({ id: 'container-restart-chelsty-infra-zigbee2mqtt' })] },
      config_errors: [],
      notices: [],
    });
    expect(s.nodes.find((n: { node: string }) => n.node === 'chelsty-infra')).toMatchObject({ agent: 'alive', services: { total: 2, healthy: 1, unhealthy: 1 } });
    expect(s.services.unhealthy_list.map((u: { key: string }) => u.key)).toContain('chelsty-infra/zigbee2mqtt');
  });

  it('GET /world/*.json: the files byte for byte, with ETag and 304', async () => {
    for (const [route, file] of [
      ['/world/services.json', f.l.worldServices],
      ['/world/nodes.json', f.l.worldNodes],
    ] as const) {
      const bytes = await readFile(file);
      const r = await f.app.inject(route);
      expect(r.statusCode).toBe(200);
      expect(r.rawPayload.equals(bytes)).toBe(true);
      expect(r.headers['content-type']).toMatch(/application\/json/);
      const etag = r.headers.etag as string;
      expect(etag).toBe(`"${createHash('sha1').update(bytes).digest('base64url')}"`);
      const again = await f.app.inject({ url: route, headers: { 'if-none-match': etag } });
      expect(again.statusCode).toBe(304);
      expect(again.body).toBe('');
      expect((await f.app.inject({ url: route, headers: { 'if-none-match': '"other"' } })).statusCode).toBe(200);
    }
  });

  it('GET /actions?state=…&limit=…, newest first; bad parameters → 400', async () => {
    const a = await f.actions.create(draft('container-restart-chelsty-infra-a', 'a'));
    await f.actions.transition({ id: a!.id, from: 'pending', to: 'rejected', by: 't' });
    await f.actions.create(draft('container-restart-chelsty-infra-b', 'b'));
    let r = await f.app.inject('/actions?state=pending');
    expect(r.json().actions.map((x: { id: string }) => x.id)).toEqual(['container-restart-chelsty-infra-b']);
    // The default, as in the CLI and the bot: the open actions.
    expect((await f.app.inject('/actions')).json()).toMatchObject({ total: 1, actions: [{ id: 'container-restart-chelsty-infra-b' }] });
    r = await f.app.inject('/actions?state=all&limit=1');
    expect(r.json()).toMatchObject({ total: 2 });
    expect(r.json().actions).toHaveLength(1);
    expect((await f.app.inject('/actions?state=pending,rejected')).json().total).toBe(2);
    expect((await f.app.inject('/actions?state=all&service=a')).json().actions.map((x: { id: string }) => x.id)).toEqual(['container-restart-chelsty-infra-a']);
    const bogus = await f.app.inject('/actions?state=bogus');
    expect(bogus.statusCode).toBe(400);
    expect(bogus.json().error).toMatch(/^state must be one or more of open, all, pending, /);
    expect((await f.app.inject('/actions?limit=0')).json()).toEqual({ error: 'limit must be a whole number from 1 to 1000' });
    expect((await f.app.inject('/actions?limit=abc')).statusCode).toBe(400);
    expect((await f.app.inject('/actions?node=..%2Fetc')).statusCode).toBe(400);
  });

  it('GET /actions/:id: the open instance or the newest finished one, with its history; 404 otherwise', async () => {
    const a = await f.actions.create(draft('container-restart-chelsty-infra-a', 'a'));
    await f.actions.transition({ id: a!.id, from: 'pending', to: 'rejected', by: 't' });
    const r = await f.app.inject('/actions/container-restart-chelsty-infra-a');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ id: 'container-restart-chelsty-infra-a', state: 'rejected', history: [{ state: 'pending' }, { state: 'rejected' }] });
    const none = await f.app.inject('/actions/no-such-action');
    expect(none.statusCode).toBe(404);
    expect(none.json()).toEqual({ error: 'no action no-such-action' });
    expect((await f.app.inject('/actions/bad%20id')).statusCode).toBe(400);
  });

  it('GET /ai-context: markdown with nodes, unhealthy services and actions', async () => {
    await f.actions.create(draft('container-restart-chelsty-infra-zigbee2mqtt', 'zigbee2mqtt'));
    const r = await f.app.inject('/ai-context');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/markdown/);
    expect(r.body).toMatch(/^# Homelab state/);
    expect(r.body).toMatch(/## Nodes\n[^#]*- chelsty-infra: agent alive/);
    expect(r.body).toMatch(/- chelsty-infra\/zigbee2mqtt: containers_not_running since/);
    expect(r.body).toMatch(/## Open actions\n- container-restart-chelsty-infra-zigbee2mqtt \(container_restart, risk low/);
    expect(r.body.length).toBeLessThanOrEqual(12_000);
  });

  it('GET /: the page, with a strict CSP and every value escaped', async () => {
    const r = await f.app.inject('/');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
    const csp = r.headers['content-security-policy'] as string;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+';/);
    expect(r.body).not.toMatch(/<script>alert/);
    expect(r.body).not.toMatch(/<img src=x/);
    expect(r.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(r.body).not.toMatch(/https?:\/\/(?!127)/); // no external assets
    expect((r.body.match(/<script/g) ?? []).length).toBe(1);
  });

  it('GET /healthz: 200 with each loop, 503 when a loop missed 3 intervals', async () => {
    let r = await f.app.inject('/healthz');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'ok', loops: expect.arrayContaining([expect.objectContaining({ loop: 'observer', ok: true })]) });
    f.runners[1]!.lastSuccessAt = Date.now() - 91_000;
    r = await f.app.inject('/healthz');
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ status: 'degraded', loops: [expect.anything(), expect.objectContaining({ loop: 'supervisor', ok: false })] });
  });

  it('GET /healthz: two agents for one node are a warning, never a 503', async () => {
    const g = await apiFixture(path.join(root, 'two-agents'), { world: (w) => ({ ...w, nodes: { ...w.nodes, 'chelsty-infra': { ...w.nodes['chelsty-infra']!, agents_running: ['a1b2c3d4', 'e5f6a7b8'] } } }) });
    const r = await g.app.inject('/healthz');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'ok', problems: [], warnings: ['two agents send heartbeats for chelsty-infra at once (instances a1b2c3d4, e5f6a7b8)'] });
    expect((await f.app.inject('/healthz')).json().warnings).toEqual([]);
    await g.app.close();
  });

  it('GET /healthz: a loop still in its first pass is not stale in its first intervals (a slow machine at start)', async () => {
    Object.assign(f.runners[1]!, { lastSuccessAt: null, startedAt: Date.now() - 5_000 });
    expect((await f.app.inject('/healthz')).statusCode).toBe(200);
    f.runners[1]!.startedAt = Date.now() - 91_000;
    const r = await f.app.inject('/healthz');
    expect(r.statusCode).toBe(503);
    expect(r.json().problems).toEqual(['supervisor has not completed a pass for over 3 intervals']);
  });

  it('GET /metrics: valid exposition format, read back by a real parser (names, types, units)', async () => {
    const r = await f.app.inject('/metrics');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(r.body) as { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string; sum?: string }[] }[];
    const fam = (name: string) => {
      const x = families.find((m) => m.name === name);
      expect(x, `${name} in /metrics`).toBeDefined();
      return x!;
    };
    const value = (name: string, labels: Record<string, string> = {}) =>
      Number(fam(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
    // Counters end in _total and are counters; no family is a counter read as `…_sum_total`.
    for (const name of ['homelab_events_applied_total', 'homelab_events_malformed_total', 'homelab_executor_actions_total', 'homelab_loop_passes_total']) expect(fam(name).type).toBe('COUNTER');
    expect(families.some((m) => /_sum_total$|_count_total$/.test(m.name))).toBe(false);
    expect(value('homelab_events_applied_total')).toBe(10);
    expect(value('homelab_events_malformed_total')).toBe(2);
    // One histogram of seconds for action durations.
    const dur = fam('homelab_action_duration_seconds');
    expect(dur.type).toBe('HISTOGRAM');
    // (The parser keeps a histogram's buckets but not its labels, sum and count: those are read
    // from the text; promtool below checks the whole exposition where it is installed.)
    expect(Number(dur.metrics[0]!.buckets!['2'])).toBe(1);
    expect(Number(dur.metrics[0]!.buckets!['1'])).toBe(0);
    expect(r.body).toContain('homelab_action_duration_seconds_sum{type="container_restart"} 1.5');
    expect(r.body).toContain('homelab_action_duration_seconds_count{type="container_restart"} 1');
    // Services by status, with missing and unknown.
    expect(fam('homelab_world_services').type).toBe('GAUGE');
    expect(value('homelab_world_services', { status: 'unhealthy' })).toBe(2);
    expect(value('homelab_world_services', { status: 'healthy' })).toBe(4);
    expect(value('homelab_world_services', { status: 'unknown' })).toBe(0);
    expect(value('homelab_world_services', { status: 'missing' })).toBe(1);
    // Per node: agent up, last seen (Unix seconds), engine up.
    expect(value('homelab_node_agent_up', { node: 'piha' })).toBe(1);
    expect(Math.abs(value('homelab_node_last_seen_timestamp_seconds', { node: 'piha' }) - (Date.now() / 1000 - 30))).toBeLessThan(10);
    expect(value('homelab_node_engine_up', { node: 'chelsty-infra' })).toBe(1);
    // (0 for an unreachable engine: engine-unreachable.test.ts.)
    expect(value('homelab_build_info', { version: '0.1.0' })).toBe(1);
    expect(value('homelab_actions', { state: 'pending', type: 'container_restart' })).toBe(0);
    expect(value('homelab_loop_pass_duration_seconds', { loop: 'observer' })).toBe(0.004);
    expect(value('homelab_notices_open')).toBe(0);
  });

  it('GET /metrics passes promtool check metrics where promtool is installed', async () => {
    const promtool = spawnSync('promtool', ['--version']);
    if (promtool.error) {
      if (process.env.CI === 'true') throw new Error('promtool is required in CI: apt-get install -y prometheus');
      return void console.warn('skipping: promtool not installed (Debian package prometheus)');
    }
    const r = await f.app.inject('/metrics');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: r.body, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  });

  it('an unknown path is a JSON 404', async () => {
    const r = await f.app.inject('/nope');
    expect(r.statusCode).toBe(404);
    expect(r.json().error).toMatch(/no route GET \/nope/);
  });
});

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    out.push(`${p}:${(await stat(p)).size}:${createHash('sha1').update(await readFile(p)).digest('hex')}`);
  }
  return out.sort();
}

describe('nothing else changes anything', () => {
  it('POST/PUT/PATCH/DELETE on every other path → 404/405, and no file changes', async () => {
    const before = await tree(root);
    for (const url of ['/', '/summary', '/world/services.json', '/world/nodes.json', '/actions', '/actions?state=pending', '/ai-context', '/healthz', '/metrics', '/ingest/events', '/actions/approve']) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
        if (url === '/ingest/events' && method === 'POST') continue;
        const r = await f.app.inject({ method, url, payload: { id: 'x' } });
        expect([404, 405], `${method} ${url}`).toContain(r.statusCode);
      }
    }
    expect(await tree(root)).toEqual(before);
    // And the server's own route table: the one route that is not GET/HEAD is the ingest.
    // (printRoutes draws a tree below "/": one line per route, its methods in brackets.)
    const table = f.app.printRoutes({ commonPrefix: false });
    const routes = table
      .split('\n')
      .map((line) => /^[\s│├└─]*(\S+) \(([A-Z, ]+)\)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map(([, name, methods]) => ({ url: name === '/' ? '/' : `/${name}`, methods: methods!.split(', ') }));
    expect(routes.length).toBeGreaterThan(5);
    const writable = routes.filter((r) => r.methods.some((m) => m !== 'GET' && m !== 'HEAD')).map((r) => `${r.methods.join(',')} ${r.url}`);
    expect(writable).toEqual(['POST /ingest/events']);
    report('non_get_routes', { routes: routes.length, non_get: writable, failures: 0 });
  });
});

describe('POST /ingest/events', () => {
  const ev = (node = 'chelsty-infra', extra: Record<string, unknown> = {}) => ({ ts: new Date().toISOString(), node, type: 'service_healthy', service: 'zigbee2mqtt', ...extra });
  const post = (payload: unknown, token?: string, type = 'application/json') =>
    f.app.inject({
      method: 'POST',
      url: '/ingest/events',
      headers: { 'content-type': type, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
  const file = () => path.join(f.l.events, new Date().toISOString().slice(0, 10), 'chelsty-infra.jsonl');

  it('appends one event, an array, or NDJSON of the token’s node as whole lines', async () => {
    expect((await post(ev(), TOKEN_INFRA)).statusCode).toBe(202);
    expect((await post([ev(), ev('node-2', { seq: 2 })], TOKEN_INFRA)).json()).toEqual({ accepted: 2 });
    expect((await post(`${JSON.stringify(ev())}\n${JSON.stringify(ev())}\n`, TOKEN_INFRA, 'application/x-ndjson')).json()).toEqual({ accepted: 2 });
    const lines = (await readFile(file(), 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ type: 'service_healthy' });
  });

  it.each([
    ['no token', () => post(ev()), 401],
    ['a wrong token', () => post(ev(), 'wrong-token-0123456789'), 401],
    ['another node’s event', () => post([ev(), ev('piha')], TOKEN_INFRA), 403],
    ['an event with a bad ts', () => post(ev('chelsty-infra', { ts: 'yesterday' }), TOKEN_INFRA), 400],
    ['a negative event without service', () => post({ ts: new Date().toISOString(), node: 'chelsty-infra', type: 'containers_not_running' }, TOKEN_INFRA), 400],
    ['bad JSON', () => post('{nope', TOKEN_INFRA), 400],
    ['bad NDJSON', () => post('{"a":1}\nnope\n', TOKEN_INFRA, 'application/x-ndjson'), 400],
    ['an empty array', () => post([], TOKEN_INFRA), 400],
    ['a body too large', () => post(Array.from({ length: 3000 }, () => ev('chelsty-infra', { detail: { pad: 'x'.repeat(100) } })), TOKEN_INFRA), 413],
    ['an event over 64 KiB', () => post(ev('chelsty-infra', { detail: { pad: 'x'.repeat(70_000) } }), TOKEN_INFRA), 413],
  ])('refuses %s and writes nothing', async (_name, call, code) => {
    const r = await call();
    expect(r.statusCode).toBe(code);
    expect(r.json().error).toEqual(expect.any(String));
    await expect(readFile(file())).rejects.toThrow();
  });

  it('is off (404) when INGEST_TOKENS is unset', async () => {
    const g = await apiFixture(await tempDir('hcp-api2-'));
    expect((await g.app.inject({ method: 'POST', url: '/ingest/events', payload: ev() })).statusCode).toBe(404);
    await g.app.close();
    await removeDir(g.l.root);
  });

  it('never echoes a token or leaks internals in an error', async () => {
    const r = await post(ev('piha'), TOKEN_INFRA);
    expect(r.body).not.toContain(TOKEN_INFRA);
    expect(f.mem.text()).not.toContain(TOKEN_INFRA);
    for (const x of XSS) expect(r.body).not.toContain(x);
  });
});
