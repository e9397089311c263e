// npm run bench: measures the product and prints one JSON object. Each figure stands next to the
// baseline it is compared with, measured in the same run on the same machine.
import { spawn, spawnSync } from 'node:child_process';
import { chatWatcher } from './chat-calls.mjs';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'dist');
const { plan } = await import(path.join(dist, 'domain', 'plan.js'));
const { loadConfig } = await import(path.join(dist, 'config.js'));
const { startControlPlane } = await import(path.join(dist, 'main.js'));
const { createLogger } = await import(path.join(dist, 'log.js'));

const quick = process.argv.includes('--quick');
const NODES = 100;
const SERVICES = 50;
const EVENTS = quick ? 100_000 : 1_000_000;
/** The CPU the serve bench's load generator is pinned to (--load-cpu=N; default: not pinned). */
const LOAD_CPU = process.argv.find((a) => a.startsWith('--load-cpu='))?.slice(11);
/** Events a second written while /summary is served (--serve-events=N; 0: none). */
const SERVE_EVENTS = Number(process.argv.find((a) => a.startsWith('--serve-events='))?.slice(15) ?? 500);

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function dist3(values) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 100) / 100);
  return { n: s.length, p50: r(pct(s, 50)), p95: r(pct(s, 95)), p99: r(pct(s, 99)), max: r(s.at(-1) ?? null) };
}
const mb = (b) => Math.round((b / 1024 / 1024) * 10) / 10;

async function corpus(root) {
  const day = new Date().toISOString().slice(0, 10);
  const dir = path.join(root, 'events', day);
  await mkdir(dir, { recursive: true });
  const base = Date.parse(`${day}T00:00:00.000Z`);
  const perNode = EVENTS / NODES;
  let bytes = 0;
  for (let n = 0; n < NODES; n++) {
    const node = `node-${n}`;
    const out = createWriteStream(path.join(dir, `${node}.jsonl`));
    let buf = '';
    for (let i = 0; i < perNode; i++) {
      const s = i % SERVICES;
      const type = i % 97 === 0 ? 'containers_not_running' : i % 13 === 0 ? 'node_heartbeat' : 'service_healthy';
      const e = { ts: new Date(base + i * 100).toISOString(), node, type, seq: i + 1, ...(type === 'node_heartbeat' ? {} : { service: `svc-${s}` }), detail: { containers: [`svc-${s}`] } };
      buf += `${JSON.stringify(e)}\n`;
      if (buf.length > 1 << 20) {
        bytes += buf.length;
        out.write(buf);
        buf = '';
      }
    }
    bytes += buf.length;
    out.end(buf);
    await new Promise((r) => out.on('finish', r));
  }
  return bytes;
}

/** A script in a process of its own, with this process's flags (`npm run bench`: `npm start`'s); its JSON line. */
function child(script, args, env = {}) {
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const BASELINE = `
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
const root = process.argv[1];
const t = performance.now();
let n = 0, bytes = 0;
for (const day of await readdir(path.join(root, 'events'))) {
  for (const f of await readdir(path.join(root, 'events', day))) {
    const text = await readFile(path.join(root, 'events', day, f), 'utf8');
    bytes += text.length;
    for (const line of text.split('\\n')) if (line) { JSON.parse(line); n++; }
  }
}
const s = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds: s, events: n, bytes, rss_mb: process.resourceUsage().maxRSS / 1024 }));
`;

const REPLAY = `
import path from 'node:path';
const [root, dist] = process.argv.slice(1);
const { Observer } = await import(path.join(dist, 'loops', 'observer.js'));
const { layout, ensureLayout } = await import(path.join(dist, 'store', 'paths.js'));
const { loadConfig } = await import(path.join(dist, 'config.js'));
const { createLogger } = await import(path.join(dist, 'log.js'));
const l = layout(root);
await ensureLayout(l);
const cfg = loadConfig({ HOMELAB_ROOT: root, HOSTS_DIR: path.join(root, 'hosts') });
const o = new Observer({ layout: l, config: cfg, log: createLogger('silent'), now: Date.now, desired: () => ({}) });
await o.initFresh();
const t = performance.now();
const st = await o.pass();
await o.flush();
const s = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds: s, events: st.applied, bytes: st.bytes, rss_mb: process.resourceUsage().maxRSS / 1024 }));
`;

async function benchReplay() {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-replay-'));
  try {
    const t = performance.now();
    const bytes = await corpus(root);
    const genS = (performance.now() - t) / 1000;
    const base = child(BASELINE, [root]);
    const rep = child(REPLAY, [root, dist]);
    return {
      corpus: { events: EVENTS, nodes: NODES, services_per_node: SERVICES, mb: mb(bytes), generated_in_s: Math.round(genS * 10) / 10 },
      replay: { events_per_s: Math.round(rep.events / rep.seconds), mb_per_s: Math.round(mb(rep.bytes) / rep.seconds), seconds: Math.round(rep.seconds * 100) / 100, peak_rss_mb: Math.round(rep.rss_mb) },
      baseline_read_and_json_parse: { events_per_s: Math.round(base.events / base.seconds), mb_per_s: Math.round(mb(base.bytes) / base.seconds), seconds: Math.round(base.seconds * 100) / 100, peak_rss_mb: Math.round(base.rss_mb) },
      replay_vs_baseline: Math.round((rep.seconds / base.seconds) * 100) / 100,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * A simulated year under retention (docs/design/files.md "Retention"): 365 days × 5 nodes × 20
 * services, a heartbeat every 30 s per node and a state change per service per hour, written day
 * by day while the observer reads and retention (EVENTS_RETENTION_DAYS=30) folds and removes —
 * then the bytes kept, and a replay from the snapshot and the days kept (compared with the live world).
 */
async function benchYear() {
  const { Observer } = await import(path.join(dist, 'loops', 'observer.js'));
  const { EventRetention } = await import(path.join(dist, 'loops', 'event-retention.js'));
  const { layout, ensureLayout } = await import(path.join(dist, 'store', 'paths.js'));
  const { measureData } = await import(path.join(dist, 'store', 'data-sizes.js'));
  const DAYS = quick ? 60 : 365;
  const YEAR_NODES = 5;
  const YEAR_SERVICES = 20;
  const KEEP = 30;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-year-'));
  try {
    const l = layout(root);
    await ensureLayout(l);
    const hostsDir = path.join(root, 'hosts');
    const desired = {};
    for (let n = 0; n < YEAR_NODES; n++) {
      const services = Object.fromEntries(Array.from({ length: YEAR_SERVICES }, (_, s) => [`svc-${s}`, { service: `svc-${s}`, monitor: true }]));
      desired[`node-${n}`] = { node: `node-${n}`, services };
      await mkdir(path.join(hostsDir, `node-${n}`), { recursive: true });
    }
    const cfg = loadConfig({ HOMELAB_ROOT: root, HOSTS_DIR: hostsDir, EVENTS_RETENTION_DAYS: String(KEEP) });
    const log = createLogger('silent');
    const start = Date.parse('2026-01-01T00:00:00.000Z');
    let now = start;
    const observer = new Observer({ layout: l, config: cfg, log, now: () => now, desired: () => desired });
    await observer.init();
    const retention = new EventRetention({ layout: l, days: KEEP, config: cfg, observer, log, now: () => now });
    const seq = new Array(YEAR_NODES).fill(0);
    let generated = 0;
    let lines = 0;
    let readS = 0;
    let retentionS = 0;
    let genS = 0;
    let peakEvents = 0;
    for (let d = 0; d < DAYS; d++) {
      const dayStart = start + d * 86_400_000;
      const day = new Date(dayStart).toISOString().slice(0, 10);
      await mkdir(path.join(l.events, day), { recursive: true });
      let t = performance.now();
      for (let n = 0; n < YEAR_NODES; n++) {
        const node = `node-${n}`;
        const out = [];
        for (let i = 0; i < 2880; i++) {
          const ts = dayStart + i * 30_000;
          out.push(JSON.stringify({ ts: new Date(ts).toISOString(), node, type: 'node_heartbeat', seq: ++seq[n], agent: 'a1', detail: { interval_s: 30, engine: 'ok' } }));
          // Every 6th heartbeat (3 minutes), a state change of one of the services: 20 an hour each.
          if (i % 6 === 3) {
            const k = (i / 6) | 0;
            const s = k % YEAR_SERVICES;
            const type = Math.floor(k / YEAR_SERVICES) % 2 === 0 ? 'containers_not_running' : 'service_healthy';
            out.push(JSON.stringify({ ts: new Date(ts + 1000).toISOString(), node, type, service: `svc-${s}`, seq: ++seq[n], agent: 'a1' }));
          }
        }
        const text = `${out.join('\n')}\n`;
        generated += text.length;
        lines += out.length;
        await writeFile(path.join(l.events, day, `${node}.jsonl`), text);
      }
      genS += (performance.now() - t) / 1000;
      now = dayStart + 86_400_000 - 1;
      t = performance.now();
      await observer.pass();
      await observer.flush();
      readS += (performance.now() - t) / 1000;
      t = performance.now();
      await retention.pass();
      retentionS += (performance.now() - t) / 1000;
      if (d % 30 === 29) peakEvents = Math.max(peakEvents, (await measureData(l)).events);
    }
    const bytes = await measureData(l);
    const live = { services: await readFile(l.worldServices, 'utf8'), nodes: await readFile(l.worldNodes, 'utf8') };
    const r = child(YEAR_REPLAY, [root, dist, String(now), hostsDir]);
    const replayed = { services: await readFile(l.worldServices, 'utf8'), nodes: await readFile(l.worldNodes, 'utf8') };
    return {
      simulated: { days: DAYS, nodes: YEAR_NODES, services_per_node: YEAR_SERVICES, lines, mb_written: mb(generated), generated_in_s: Math.round(genS * 10) / 10 },
      retention_days: KEEP,
      kept_mb: Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, Math.round((v / 1048576) * 10) / 10])),
      events_mb_peak: mb(peakEvents),
      observer_read_s: Math.round(readS * 10) / 10,
      retention_s: Math.round(retentionS * 10) / 10,
      replay: { seconds: Math.round(r.seconds * 100) / 100, events: r.events, peak_rss_mb: Math.round(r.rss_mb), same_world: live.services === replayed.services && live.nodes === replayed.nodes },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** A replay from the events snapshot and the days kept, in a process of its own (the simulated year). */
const YEAR_REPLAY = `
import path from 'node:path';
const [root, dist, nowText, hostsDir] = process.argv.slice(1);
const now = Number(nowText);
const { Observer } = await import(path.join(dist, 'loops', 'observer.js'));
const { layout } = await import(path.join(dist, 'store', 'paths.js'));
const { loadConfig } = await import(path.join(dist, 'config.js'));
const { createLogger } = await import(path.join(dist, 'log.js'));
const l = layout(root);
const desired = {};
for (let n = 0; n < 5; n++) desired['node-' + n] = { node: 'node-' + n, services: Object.fromEntries(Array.from({ length: 20 }, (_, s) => ['svc-' + s, { service: 'svc-' + s, monitor: true }])) };
const cfg = loadConfig({ HOMELAB_ROOT: root, HOSTS_DIR: hostsDir });
const o = new Observer({ layout: l, config: cfg, log: createLogger('silent'), now: () => now, desired: () => desired });
const t = performance.now();
await o.initFresh();
const st = await o.pass();
await o.flush();
const s = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds: s, events: st.applied, rss_mb: process.resourceUsage().maxRSS / 1024 }));
`;

/**
 * The cost of one event by fleet size: 10, 100 and 1 000 nodes × 50 services with 100, 1 000 and
 * 1 000 open actions, each in a process of its own with this process's flags (`npm run bench`: `npm start`'s).
 */
async function benchScale() {
  const sizes = quick ? [[10, 100, 20], [100, 1000, 20]] : [[10, 100, 100], [100, 1000, 100], [1000, 1000, 100]];
  const out = [];
  // Event → Telegram message as well: the strict Bot API stand-in, in the child's process.
  const botApi = await fakeBotApiFile();
  for (const [nodes, open, trials] of sizes) {
    const r = spawnSync(process.execPath, [...process.execArgv, path.join(here, 'scale-child.mjs'), dist, String(nodes), String(open), String(trials)], { encoding: 'utf8', maxBuffer: 1 << 24, env: { MALLOC_ARENA_MAX: '2', ...process.env, SCALE_BOTAPI: botApi, ...(quick ? { SCALE_MESSAGE_TRIALS: '8' } : {}) } });
    if (r.status !== 0) throw new Error(`scale ${nodes}: ${r.stderr}`);
    out.push(JSON.parse(r.stdout.trim().split('\n').at(-1)));
  }
  return out;
}

/** Debian's nats-server, where installed (it is in /usr/sbin, which a user's PATH may not hold). */
const NATS_BIN = ['nats-server', '/usr/sbin/nats-server'].find((b) => spawnSync(b, ['--version']).status === 0);

/** A nats-server with JetStream on a loopback port, its store under `root`. */
async function startBenchNats(root) {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const server = spawn(NATS_BIN, ['-js', '-sd', path.join(root, 'js'), '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => (log += d));
  await waitUntil(() => /Server is ready/.test(log), 20_000);
  return { server, port };
}

/**
 * Events over NATS JetStream end to end: P publishers (their own process, bench/nats-publishers.mjs)
 * each publishing its node's events with acknowledgements, into a control plane reading the stream
 * with its durable consumer; events a second from the first publish until the observer applied the
 * last, and nats-server's RSS after. Skipped where Debian's nats-server is not installed.
 */
async function benchNats() {
  if (!NATS_BIN) return { skipped: 'nats-server is not installed (apt-get install nats-server)' };
  const runs = [];
  for (const [publishers, events] of quick ? [[1, 1000], [10, 2000]] : [[1, 5000], [10, 20_000], [100, 20_000]]) {
    const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-nats-'));
    const { server, port } = await startBenchNats(root);
    const hosts = path.join(root, 'hosts');
    for (let n = 0; n < publishers; n++) {
      await mkdir(path.join(hosts, `n${n}`), { recursive: true });
      await writeFile(path.join(hosts, `n${n}`, 'services.yaml'), 'services:\n  s0: {}\n');
    }
    const url = `nats://127.0.0.1:${port}`;
    const running = await startControlPlane(loadConfig({ HOMELAB_ROOT: path.join(root, 'homelab'), HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'silent', NATS_URL: url, CONTROL_PLANE_ID: 'bench' }), createLogger('silent'));
    await waitUntil(async () => (await (await fetch(`${running.address}/healthz`)).json()).nats?.state === 'up', 20_000);
    const applied0 = running.observer.counters().applied;
    const t = performance.now();
    // Not spawnSync: the control plane reads the stream in this process meanwhile.
    const child = spawn(process.execPath, [path.join(here, 'nats-publishers.mjs'), url, String(publishers), String(events)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    if ((await new Promise((r) => child.on('exit', r))) !== 0) throw new Error(`nats publishers: ${err}`);
    const pub = JSON.parse(out.trim());
    await waitUntil(() => running.observer.counters().applied - applied0 >= pub.events, 300_000);
    const ms = performance.now() - t;
    const rss = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${server.pid}/status`, 'utf8'))?.[1];
    const storeBytes = Number(spawnSync('du', ['-sb', path.join(root, 'js')], { encoding: 'utf8' }).stdout.split('\t')[0]);
    await running.stop();
    server.kill();
    await rm(root, { recursive: true, force: true });
    runs.push({ publishers, events: pub.events, publish_ms: pub.publish_ms, world_ms: Math.round(ms), events_per_s: Math.round(pub.events / (ms / 1000)), nats_server_rss_mb: rss ? Math.round(Number(rss) / 1024) : null, stream_bytes_per_event: Math.round(storeBytes / pub.events) });
  }
  return runs;
}

/**
 * Failover: the leader's lease held in a process of its own (bench/lease-holder.mjs), killed with
 * SIGKILL; the time from the kill until the standby here leads, over K kills, with LEASE_TTL_S = 3
 * (the fencing makes it at least the TTL less a renewal interval: the server's max_age removes the
 * lease TTL after its last renewal, and the standby looks every TTL/3). Then the same with a whole
 * standby control plane (RECONCILE_INTERVAL_S = 3600, so no pass of its own interval helps) and an
 * action approved while the killed one led: the time until the new leader claims it.
 */
async function benchFailover() {
  if (!NATS_BIN) return { skipped: 'nats-server is not installed (apt-get install nats-server)' };
  const { Lease } = await import(path.join(dist, 'nats', 'lease.js'));
  const { realClock } = await import(path.join(dist, 'time', 'clock.js'));
  const { connect } = await import('nats');
  const ttlS = 3;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-failover-'));
  const { server, port } = await startBenchNats(root);
  const url = `nats://127.0.0.1:${port}`;
  const kills = quick ? 5 : 20;
  /** A lease holder in its own process, leading; killed at a random point of its renewal interval. */
  const holder = async () => {
    const proc = spawn(process.execPath, [path.join(here, 'lease-holder.mjs'), dist, url, String(ttlS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let said = '';
    proc.stdout.on('data', (d) => (said += d));
    await waitUntil(() => /leading/.test(said), 30_000);
    return async () => {
      await new Promise((r) => setTimeout(r, Math.random() * (ttlS * 1000) / 3));
      proc.kill('SIGKILL');
      return { t: performance.now(), wall: Date.now() };
    };
  };
  const ms = [];
  for (let k = 0; k < kills; k++) {
    const kill = await holder();
    const nc = await connect({ servers: url });
    const standby = new Lease({ id: 'standby', ttlS, clock: realClock, log: createLogger('silent'), onLost: () => {} });
    standby.begin(nc);
    await standby.firstLook();
    const { t } = await kill();
    await waitUntil(() => standby.leading(), 30_000);
    ms.push(performance.now() - t);
    await standby.stop();
    await nc.close();
  }
  // A whole control plane as the standby, an approved action waiting for it.
  const hosts = path.join(root, 'hosts', 'pi');
  await mkdir(hosts, { recursive: true });
  await writeFile(path.join(hosts, 'services.yaml'), 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n');
  const { KvActionStore } = await import(path.join(dist, 'nats', 'actions-kv.js'));
  const claimed = [];
  const leading = [];
  for (let k = 0; k < kills; k++) {
    const kill = await holder();
    const cp = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, `cp-${k}`), HOSTS_DIR: path.dirname(hosts), NATS_URL: url, CONTROL_PLANE_ID: 'standby', LEASE_TTL_S: String(ttlS), RECONCILE_INTERVAL_S: '3600' }), createLogger('silent'));
    const nc = await connect({ servers: url });
    const store = new KvActionStore({ log: createLogger('silent'), clock: realClock });
    store.begin(nc);
    await store.ready(20_000);
    const a = await store.create({ id: 'container-restart-pi-web', instance: `20261204T1200${String(k).padStart(2, '0')}Z`, type: 'container_restart', risk: 'low', node: 'pi', service: 'web', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: ['web'], drift_since: null });
    await store.transition({ id: a.id, from: 'pending', to: 'approved', by: 'bench' });
    await waitUntil(async () => (await cp.actions.get(a.id))?.state === 'approved', 30_000);
    const { t, wall } = await kill();
    await waitUntil(async () => {
      const now = await cp.actions.get(a.id);
      return now && now.instance === a.instance && now.state !== 'approved';
    }, 60_000);
    const led = performance.now() - t;
    const got = (await cp.actions.find(a.id, a.instance)) ?? (await cp.actions.get(a.id));
    const run = got.history.find((h) => h.state === 'running');
    claimed.push(Date.parse(run.at) - wall);
    leading.push(led);
    await store.stop();
    await nc.close();
    await cp.stop();
  }
  server.kill();
  await rm(root, { recursive: true, force: true });
  return { lease_ttl_s: ttlS, kills: ms.length, kill_to_standby_leading_ms: dist3(ms), whole_control_plane: { kills: claimed.length, kill_to_approved_action_claimed_ms: dist3(claimed), kill_to_its_outcome_seen_ms: dist3(leading) } };
}

function bigState(nServices, unhealthyEvery = 100) {
  const now = Date.now();
  const desired = {};
  const world = { services: {}, nodes: {} };
  const perNode = SERVICES;
  for (let n = 0; n < nServices / perNode; n++) {
    const node = `node-${n}`;
    desired[node] = { node, docker: { socket: '/var/run/docker.sock' }, services: {} };
    world.nodes[node] = { node, last_seen: new Date(now - 5000).toISOString(), last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 40, disk_updated_at: null, events_applied: 1, events_unknown: 0, agent: 'alive' };
    for (let s = 0; s < perNode; s++) {
      const service = `svc-${s}`;
      desired[node].services[service] = { node, service, containers: [service], monitor: true, auto_approve: false };
      const bad = (n * perNode + s) % unhealthyEvery === 0;
      world.services[`${node}/${service}`] = {
        node, service, status: bad ? 'unhealthy' : 'healthy', reason: bad ? 'containers_not_running' : null,
        since: new Date(now - 60_000).toISOString(), last_event_at: new Date(now - 5000).toISOString(), last_healthy_at: null, last_incident: null, changes: [],
      };
    }
  }
  return { desired, world, now };
}

function benchPlan() {
  const { desired, world, now } = bigState(5000);
  const times = [];
  let creates = 0;
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    const p = plan({ desired, world, open: [], cooldowns: {}, silences: [], held: {}, desiredProblems: [], now });
    times.push(performance.now() - t);
    creates = p.create.length;
  }
  return { desired_services: 5000, plan_ms: dist3(times), proposals: creates };
}

/** Redaction of an 8 KiB log tail (the inspector's cap), ordinary lines with a few secrets in them. */
async function benchRedact() {
  const { redact, redactLines } = await import(path.join(dist, 'domain', 'redact.js'));
  const lines = [];
  for (let i = 0; lines.join('\n').length < 8 * 1024; i++) {
    const t = new Date(Date.UTC(2026, 4, 27, 14, 0, i)).toISOString();
    lines.push(i % 25 === 7 ? `${t} connecting with --password hunter2-${i} to postgres://app:pw${i}@db/app` : `${t} INFO request ${i} GET /api/v1/items?page=${i} 200 in ${i % 97} ms (sha256:${'ab'.repeat(32)})`);
  }
  const times = [];
  const text = lines.join('\n');
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    redactLines(lines);
    times.push(performance.now() - t);
  }
  const whole = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    redact(text);
    whole.push(performance.now() - t);
  }
  return { tail_bytes: text.length, lines: lines.length, redact_lines_ms: dist3(times), redact_text_ms: dist3(whole), goal_ms: 1 };
}

async function waitUntil(fn, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function benchEventToPending() {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-live-'));
  const hosts = path.join(root, 'hosts');
  const TRIALS = quick ? 50 : 200;
  const lines = ['services:'];
  for (let i = 0; i < TRIALS; i++) lines.push(`  t${i}: {}`);
  await mkdir(path.join(hosts, 'lat'), { recursive: true });
  await writeFile(path.join(hosts, 'lat', 'services.yaml'), `${lines.join('\n')}\n`);
  const home = path.join(root, 'homelab');
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'silent' });
  const running = await startControlPlane(cfg, createLogger('silent'));
  try {
    const day = () => new Date().toISOString().slice(0, 10);
    const file = () => path.join(home, 'events', day(), 'lat.jsonl');
    await mkdir(path.dirname(file()), { recursive: true });
    const healthy = [{ ts: new Date().toISOString(), node: 'lat', type: 'node_heartbeat' }];
    for (let i = 0; i < TRIALS; i++) healthy.push({ ts: new Date().toISOString(), node: 'lat', type: 'service_healthy', service: `t${i}` });
    await appendFile(file(), healthy.map((e) => `${JSON.stringify(e)}\n`).join(''));
    await waitUntil(() => Object.keys(running.observer.current().services).length === TRIALS);
    const pendingDir = path.join(home, 'actions', 'pending');
    const lat = [];
    for (let i = 0; i < TRIALS; i++) {
      const id = `container-restart-lat-t${i}.json`;
      const t = performance.now();
      await appendFile(file(), `${JSON.stringify({ ts: new Date().toISOString(), node: 'lat', type: 'containers_not_running', service: `t${i}` })}\n`);
      try {
        await waitUntil(() => existsSync(path.join(pendingDir, id)));
      } catch {
        const w = running.observer.current().services[`lat/t${i}`];
        throw new Error(`trial ${i}: no pending action within 10 s; world says ${JSON.stringify(w)}; runners ${JSON.stringify(running.runners.map((r) => [r.name, r.status.passes, r.status.lastError]))}`);
      }
      lat.push(performance.now() - t);
    }
    // Baselines: the same append seen through inotify alone, and one atomic write with fsync.
    const { writeFileAtomic } = await import(path.join(dist, 'store', 'atomic.js'));
    const { watch } = await import('node:fs');
    const probeDir = path.join(root, 'probe');
    await mkdir(probeDir, { recursive: true });
    const probeFile = path.join(probeDir, 'p.jsonl');
    await writeFile(probeFile, '');
    let notified = () => {};
    const w = watch(probeDir, () => notified());
    const inotify = [];
    const atomic = [];
    for (let i = 0; i < TRIALS; i++) {
      const t = performance.now();
      const seen = new Promise((r) => (notified = r));
      await appendFile(probeFile, `${JSON.stringify({ i })}\n`);
      await seen;
      inotify.push(performance.now() - t);
      const t2 = performance.now();
      await writeFileAtomic(path.join(probeDir, 'a.json'), JSON.stringify({ i }));
      atomic.push(performance.now() - t2);
    }
    w.close();
    return {
      event_to_pending_action_ms: dist3(lat),
      baseline_append_seen_by_inotify_ms: dist3(inotify),
      baseline_one_atomic_write_ms: dist3(atomic),
      open_actions_at_the_end: TRIALS,
    };
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** The test suite's local Bot API server, transpiled on the fly (typescript is a dev dependency). */
// Root cause first: an event for a root with 20 dependents → its one pending action (naming all
// 20), beside the same fleet without dependencies (what the rule itself costs); and a whole chain
// (root + 5 dependents in its network namespace) on the real engine.
async function benchChains() {
  const ROOTS = quick ? 20 : 100;
  return {
    event_to_pending_root_with_20_dependents_ms: await rootToPending(ROOTS, true),
    same_fleet_without_dependencies_ms: await rootToPending(ROOTS, false),
    services: ROOTS * 21,
    docker_chain_root_and_5_dependents: await benchDockerChain(),
  };
}

async function rootToPending(ROOTS, withDeps) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-chain-'));
  const hosts = path.join(root, 'hosts');
  const DEPS = 20;
  const lines = ['services:'];
  for (let i = 0; i < ROOTS; i++) {
    lines.push(`  r${i}: {}`);
    for (let j = 0; j < DEPS; j++) lines.push(`  r${i}d${j}:`, withDeps ? `    depends_on: [r${i}]` : '    monitor: true');
  }
  await mkdir(path.join(hosts, 'ch'), { recursive: true });
  await writeFile(path.join(hosts, 'ch', 'services.yaml'), `${lines.join('\n')}\n`);
  const home = path.join(root, 'homelab');
  const running = await startControlPlane(loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'silent' }), createLogger('silent'));
  try {
    const file = path.join(home, 'events', new Date().toISOString().slice(0, 10), 'ch.jsonl');
    await mkdir(path.dirname(file), { recursive: true });
    const healthy = [{ ts: new Date().toISOString(), node: 'ch', type: 'node_heartbeat' }];
    for (let i = 0; i < ROOTS; i++) for (const s of [`r${i}`, ...Array.from({ length: DEPS }, (_, j) => `r${i}d${j}`)]) healthy.push({ ts: new Date().toISOString(), node: 'ch', type: 'service_healthy', service: s });
    await appendFile(file, healthy.map((e) => `${JSON.stringify(e)}\n`).join(''));
    await waitUntil(() => Object.keys(running.observer.current().services).length === ROOTS * (DEPS + 1));
    const lat = [];
    for (let i = 0; i < ROOTS; i++) {
      const pending = path.join(home, 'actions', 'pending', `container-restart-ch-r${i}.json`);
      const t = performance.now();
      await appendFile(file, `${JSON.stringify({ ts: new Date().toISOString(), node: 'ch', type: 'containers_not_running', service: `r${i}` })}\n`);
      await waitUntil(() => existsSync(pending));
      lat.push(performance.now() - t);
      const named = JSON.parse(await readFile(pending, 'utf8')).chain?.dependents?.length ?? 0;
      if (named !== (withDeps ? DEPS : 0)) throw new Error(`r${i}: the action names ${named} dependents`);
    }
    return dist3(lat);
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

async function benchDockerChain() {
  const Docker = (await import('dockerode')).default;
  const { ActionStore } = await import(path.join(dist, 'store', 'actions.js'));
  const { Executor } = await import(path.join(dist, 'loops', 'executor.js'));
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
    await docker.getImage('homelab-test/busybox:1').inspect();
  } catch {
    return { skipped: 'no Docker Engine with the homelab-test/busybox:1 image here (bash scripts/test-image.sh)' };
  }
  const tag = `hcp-bench-${process.pid}`;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-dchain-'));
  const labels = { 'homelab-control-plane.bench': tag };
  const TRIALS = quick ? 3 : 10;
  const ms = [];
  try {
    const vpn = await docker.createContainer({ Image: 'homelab-test/busybox:1', name: `${tag}-vpn`, Cmd: ['sh', '-c', 'mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p 18098 -h /w'], Labels: labels, HostConfig: { Init: true } });
    await vpn.start();
    const deps = [];
    for (let j = 0; j < 5; j++) {
      const c = await docker.createContainer({ Image: 'homelab-test/busybox:1', name: `${tag}-d${j}`, Cmd: ['sleep', '3600'], Labels: labels, HostConfig: { Init: true, NetworkMode: `container:${tag}-vpn` } });
      await c.start();
      deps.push(`${tag}-d${j}`);
    }
    const svc = (s, c, depends_on = []) => ({ node: 'dk', service: s, containers: [c], monitor: true, auto_approve: false, updates: 'off', depends_on });
    const desired = { dk: { node: 'dk', docker: { socket: '/var/run/docker.sock' }, services: Object.fromEntries([['vpn', svc('vpn', `${tag}-vpn`)], ...deps.map((d, j) => [`d${j}`, svc(`d${j}`, d, ['vpn'])])]) } };
    const store = new ActionStore(path.join(root, 'actions'));
    await store.ensureDirs();
    const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: createLogger('silent'), now: Date.now, actionTimeoutS: 120, verifyAfterS: 60 });
    for (let i = 0; i < TRIALS; i++) {
      await vpn.kill().catch(() => {});
      const instance = `20260527T1400${String(i).padStart(2, '0')}Z`;
      await store.create({ id: 'container-restart-dk-vpn', instance, type: 'container_restart', risk: 'low', node: 'dk', service: 'vpn', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: [`${tag}-vpn`], drift_since: null, chain: { dependents: deps.map((d, j) => ({ service: `d${j}`, containers: [d], needs: [] })) } });
      await store.transition({ id: 'container-restart-dk-vpn', from: 'pending', to: 'approved', by: 'bench' });
      const t = performance.now();
      await ex.pass();
      await ex.idle();
      ms.push(performance.now() - t);
      const done = (await store.list('completed')).find((a) => a.instance === instance);
      if (!done) throw new Error(`chain trial ${i} did not complete: ${JSON.stringify((await store.list('failed')).map((a) => a.error))}`);
    }
    return { whole_chain_ms: dist3(ms), trials: TRIALS, note: 'kill the root, then one approved action: restart it (running for 1 s), then its 5 dependents one by one' };
  } finally {
    const list = await docker.listContainers({ all: true, filters: { label: [`homelab-control-plane.bench=${tag}`] } });
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}

async function fakeBotApi() {
  return (await import(await fakeBotApiFile())).FakeBotApi;
}

/** test/support/bot-api.ts as a module of its own (a scale child imports it too). */
async function fakeBotApiFile() {
  const ts = (await import('typescript')).default;
  const src = await readFile(path.join(here, '..', 'test', 'support', 'bot-api.ts'), 'utf8');
  const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-botapi-')), 'bot-api.mjs');
  await writeFile(file, js);
  return file;
}

/**
 * Telegram at a local Bot API server (the strict stand-in of the tests): event appended → its
 * action in the chat (its own message, or a group message once more than 3 are pending within
 * 30 s), a command answered in a group whose window is taken by 50 queued edits, and a burst of
 * 12 on 3 nodes in a group; each beside a bare sendMessage.
 */
async function benchTelegram() {
  const FakeBotApi = await fakeBotApi();
  const token = '123456789:AAHbenchBenchBenchBenchBenchBench_x';
  const api = await new FakeBotApi(token).start();
  try {
    const baseline = async (chat, n) => {
      const raw = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const r = await fetch(`${api.url}/bot${token}/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: chat, text: `baseline ${i}` }) });
        await r.json();
        raw.push(performance.now() - t);
      }
      return raw;
    };
    const event = await benchEventToMessage(api, token, false);
    const crowded = await benchEventToMessage(api, token, true);
    const reply = await benchGroupReply(api, token);
    const burst = await benchBurst(api, token);
    return {
      burst_12_on_3_nodes_in_a_group: burst,
      event_to_action_message_ms: dist3(event),
      event_to_action_message_with_trials_left_pending_ms: dist3(crowded),
      baseline_bare_send_message_ms: dist3(await baseline(6, 50)),
      group_reply_with_50_queued_edits_ms: dist3(reply.latencies),
      queued_edits_when_asked: reply.queued,
      goals: 'event → message p50 ≤ 50 ms, p99 ≤ 250 ms (own messages; a group join waits for the 1 s edit merge); a reply with 50 queued edits ≤ 1000 ms',
      setup: 'event_to_action_message: 10 nodes, 60 trials, each drift resolved after its message; with_trials_left_pending: one node per trial, all left pending (200 nodes, 200 open at the end)',
    };
  } finally {
    await api.close();
  }
}

/**
 * Event appended → its action message at the Bot API. `accumulate`: every trial's action stays
 * pending (200 nodes, 200 open at the end); otherwise each drift resolves after its message
 * (the action is cancelled, as when a service recovers), so few are open at a time.
 */
async function benchEventToMessage(api, token, accumulate) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-tg-'));
  const TRIALS = quick ? 8 : accumulate ? 200 : 60;
  const NODES = accumulate ? TRIALS : 10;
  const nodeOf = (i) => `tg${i % NODES}`;
  const serviceOf = (i) => `web${Math.floor(i / NODES)}`;
  const services = Math.ceil(TRIALS / NODES);
  for (let n = 0; n < NODES; n++) {
    await mkdir(path.join(root, 'hosts', `tg${n}`), { recursive: true });
    await writeFile(path.join(root, 'hosts', `tg${n}`, 'services.yaml'), `services:\n${Array.from({ length: services }, (_, k) => `  web${k}: {}`).join('\n')}\n`);
  }
  const home = path.join(root, 'homelab');
  // Every node has reported before the start: no "agent silent" notice shares the chat's limit.
  const dir = path.join(home, 'events', new Date().toISOString().slice(0, 10));
  await mkdir(dir, { recursive: true });
  const file = (node) => path.join(dir, `${node}.jsonl`);
  const ev = (node, type, service) => `${JSON.stringify({ ts: new Date().toISOString(), node, type, ...(service ? { service } : {}) })}\n`;
  for (let n = 0; n < NODES; n++) await appendFile(file(`tg${n}`), ev(`tg${n}`, 'node_heartbeat') + Array.from({ length: services }, (_, k) => ev(`tg${n}`, 'service_healthy', `web${k}`)).join(''));
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: path.join(root, 'hosts'), PORT: '0', RECONCILE_INTERVAL_S: '3600', TELEGRAM_BOT_TOKEN: token, TELEGRAM_CHAT_ID: '5', TELEGRAM_ADMIN_IDS: '1', TELEGRAM_API_ROOT: api.url, LOG_LEVEL: 'silent' });
  const running = await startControlPlane(cfg, createLogger('silent'));
  try {
    await waitUntil(() => Object.keys(running.observer.current().services).length === NODES * services);
    const lat = [];
    const chat = chatWatcher(api);
    for (let i = 0; i < TRIALS; i++) {
      const id = `container-restart-${nodeOf(i)}-${serviceOf(i)}`;
      const t = performance.now();
      await appendFile(file(nodeOf(i)), ev(nodeOf(i), 'containers_not_running', serviceOf(i)));
      // Its own message, or (past 3 pending within 30 s) the group message it joins by an edit.
      await waitUntil(() => chat.named(id), 20_000);
      lat.push(performance.now() - t);
      if (!accumulate) await appendFile(file(nodeOf(i)), ev(nodeOf(i), 'service_healthy', serviceOf(i)));
      // Within a private chat's limit (1/s: a message, and its edit when the drift resolves), so
      // each trial measures one message alone.
      await new Promise((r) => setTimeout(r, accumulate ? 1050 : 2100));
    }
    return lat;
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** 50 messages already in a group, each with a change not yet edited in: how soon is /status answered? */
async function benchGroupReply(api, token) {
  const GROUP = -1002000000000;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-tgq-'));
  const home = path.join(root, 'homelab');
  await mkdir(path.join(root, 'hosts'), { recursive: true });
  const outbox = path.join(home, 'state', 'telegram', 'outbox');
  await mkdir(outbox, { recursive: true });
  const { createHash } = await import('node:crypto');
  const at = new Date().toISOString();
  for (let i = 0; i < 50; i++) {
    const sent = { message_id: api.seedMessage(GROUP, `message ${i}`) };
    const key = `action:bench-${i}@1`;
    const rec = { version: 1, key, chat_id: String(GROUP), thread_id: null, text: `message ${i}, changed`, buttons: [], rev: 2, delivered_rev: 1, queued_at: at, message_id: sent.message_id, delivered_at: at, attempts: 0, last_error: null, ref: 'x', meta: { kind: 'action', id: `bench-${i}`, instance: '1', final: false } };
    await writeFile(path.join(outbox, `${createHash('sha1').update(key).digest('hex').slice(0, 20)}.json`), JSON.stringify(rec));
  }
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: path.join(root, 'hosts'), PORT: '0', RECONCILE_INTERVAL_S: '3600', TELEGRAM_BOT_TOKEN: token, TELEGRAM_CHAT_ID: String(GROUP), TELEGRAM_ADMIN_IDS: '1', TELEGRAM_API_ROOT: api.url, LOG_LEVEL: 'silent' });
  const running = await startControlPlane(cfg, createLogger('silent'));
  try {
    await waitUntil(() => api.calls.some((c) => c.method === 'getUpdates'));
    // Asked in the middle of the queue (the quick run asks once the first edits went out).
    await waitUntil(() => running.telegram.outbox.pending().length <= (quick ? 48 : 35), 20_000);
    const latencies = [];
    const queued = running.telegram.outbox.pending().length;
    for (let i = 0; i < 5; i++) {
      const before = api.calls.length;
      const t = performance.now();
      api.userMessage(GROUP, { id: 1, first_name: 'Bench' }, '/status');
      await waitUntil(() => api.calls.slice(before).some((c) => c.method === 'sendMessage' && /Homelab status/.test(String(c.params.text))), 10_000);
      latencies.push(performance.now() - t);
    }
    return { latencies, queued };
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * 12 services failing on 3 nodes at once, the chat a group (20 calls a minute): how long until
 * every action is in the chat, and how many of the minute's calls that took.
 */
async function benchBurst(api, token) {
  const GROUP = -1003000000000;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-burst-'));
  const home = path.join(root, 'homelab');
  const hosts = path.join(root, 'hosts');
  for (const n of ['b1', 'b2', 'b3']) {
    await mkdir(path.join(hosts, n), { recursive: true });
    await writeFile(path.join(hosts, n, 'services.yaml'), `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${[0, 1, 2, 3].map((i) => `  s${i}: {}`).join('\n')}\n`);
  }
  const day = new Date().toISOString().slice(0, 10);
  await mkdir(path.join(home, 'events', day), { recursive: true });
  const line = (n, type, service) => `${JSON.stringify({ ts: new Date().toISOString(), node: n, type, ...(service ? { service } : {}) })}\n`;
  for (const n of ['b1', 'b2', 'b3']) await writeFile(path.join(home, 'events', day, `${n}.jsonl`), line(n, 'node_heartbeat') + [0, 1, 2, 3].map((i) => line(n, 'service_healthy', `s${i}`)).join(''));
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '3600', TELEGRAM_BOT_TOKEN: token, TELEGRAM_CHAT_ID: String(GROUP), TELEGRAM_ADMIN_IDS: '1', TELEGRAM_API_ROOT: api.url, LOG_LEVEL: 'silent' });
  const running = await startControlPlane(cfg, createLogger('silent'));
  try {
    await waitUntil(() => api.calls.some((c) => c.method === 'getUpdates'));
    const counted = () => api.calls.filter((c) => (c.method === 'sendMessage' || c.method === 'editMessageText') && Number(c.params.chat_id) === GROUP && c.status === 'ok');
    const t = performance.now();
    for (const n of ['b1', 'b2', 'b3']) await appendFile(path.join(home, 'events', day, `${n}.jsonl`), [0, 1, 2, 3].map((i) => line(n, 'containers_not_running', `s${i}`)).join(''));
    const ids = ['b1', 'b2', 'b3'].flatMap((n) => [0, 1, 2, 3].map((i) => `container-restart-${n}-s${i}`));
    await waitUntil(() => ids.every((id) => api.chat(GROUP).some((m) => m.text.includes(id))), 60_000);
    const visibleMs = Math.round(performance.now() - t);
    const callsToVisible = counted().length;
    // Whatever follows within the minute (evidence edits, joins) counts against the same window.
    await new Promise((r) => setTimeout(r, 10_000));
    return { all_visible_ms: visibleMs, calls_until_visible: callsToVisible, calls_in_the_first_10_s: counted().length, messages: api.chat(GROUP).length, goal: 'all visible ≤ 10 000 ms, ≤ 6 of the group\'s 20 calls a minute' };
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** 500 events/s over 5 000 services for a while: how far world state lags behind the logs. */
async function benchSustained() {
  const SECONDS = Number(process.argv.find((a) => a.startsWith('--sustained-seconds='))?.slice(20) ?? (quick ? 5 : 600));
  const RATE = 500;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-load-'));
  const home = path.join(root, 'homelab');
  const hosts = path.join(root, 'hosts');
  const services = Array.from({ length: SERVICES }, (_, j) => `  svc-${j}: {}`).join('\n');
  for (let i = 0; i < NODES; i++) {
    await mkdir(path.join(hosts, `load-${i}`), { recursive: true });
    await writeFile(path.join(hosts, `load-${i}`, 'services.yaml'), `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${services}\n`);
  }
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '30', LOG_LEVEL: 'silent', AGENT_SILENT_AFTER_S: '3600' });
  const running = await startControlPlane(cfg, createLogger('silent'));
  const epoch = () => performance.timeOrigin + performance.now();
  const lags = [];
  const marks = [];
  running.observer.onPublish((w) => {
    const seen = w.nodes['load-clock']?.last_seen;
    const now = epoch();
    while (marks.length && seen && marks[0].ts <= seen) lags.push(now - marks.shift().at);
  });
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const rssByMinute = [];
    let rssMax = 0;
    let heapMax = 0;
    let externalMax = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      heapMax = Math.max(heapMax, m.heapUsed);
      externalMax = Math.max(externalMax, m.external + m.arrayBuffers);
      const rss = m.rss;
      rssMax = Math.max(rssMax, rss);
      const minute = Math.floor((performance.now() - t0) / 60_000);
      rssByMinute[minute] = Math.max(rssByMinute[minute] ?? 0, rss);
    }, 1000);
    // The events come from another process (bench/events-load.mjs).
    const child = spawn(process.execPath, [path.join(here, 'events-load.mjs'), path.join(home, 'events'), String(RATE), String(SECONDS), String(NODES), String(SERVICES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let sent = 0;
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (m.done) sent = m.sent;
        else marks.push(m);
      }
    });
    await new Promise((r) => child.on('exit', r));
    await waitUntil(() => marks.length === 0, 30_000).catch(() => {});
    clearInterval(sampler);
    // With --expose-gc: what is alive once the garbage is collected (what a heap snapshot shows).
    let afterGc;
    if (typeof globalThis.gc === 'function') {
      globalThis.gc();
      const m = process.memoryUsage();
      afterGc = { rss_mb: mb(m.rss), heap_used_mb: mb(m.heapUsed), heap_total_mb: mb(m.heapTotal) };
    }
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const mbs = rssByMinute.map((x) => mb(x));
    return {
      seconds: Math.round(elapsed),
      events: sent,
      events_per_second: RATE,
      services: Object.keys(running.observer.current().services).length,
      pending_actions: (await readdir(path.join(home, 'actions', 'pending'))).filter((n) => n.endsWith('.json')).length,
      world_lag_ms: dist3(lags),
      rss_mb_max: mb(rssMax),
      heap_used_mb_max: mb(heapMax),
      ...(afterGc ? { after_full_gc: afterGc } : {}),
      external_mb_max: mb(externalMax),
      rss_mb_max_by_minute: mbs,
      ...(mbs.length >= 10 ? { rss_minute_10_over_minute_2: Math.round((mbs[9] / mbs[1]) * 100) / 100 } : {}),
      ...(mbs.length >= 3 ? { rss_last_minute_over_minute_2: Math.round((mbs.at(-1) / mbs[1]) * 100) / 100 } : {}),
      cpu_percent_of_one_core: Math.round(((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100),
      note: 'the events are written by bench/events-load.mjs in its own process; RSS and CPU are the control plane\'s alone; lag is append → world state in memory',
    };
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

/** Approve (the file move the bot makes) → the executor's restart call reaching the engine. */
async function benchApproveToRestart() {
  const Docker = (await import('dockerode')).default;
  const { ActionStore } = await import(path.join(dist, 'store', 'actions.js'));
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
    await docker.getImage('homelab-test/busybox:1').inspect();
  } catch {
    return { skipped: 'no Docker Engine with the homelab-test/busybox:1 image here (bash scripts/test-image.sh)' };
  }
  const TRIALS = quick ? 5 : 20;
  const tag = `hcp-bench-${process.pid}`;
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-dk-'));
  const names = Array.from({ length: TRIALS }, (_, i) => `${tag}-c${i}`);
  for (const name of names) {
    const c = await docker.createContainer({ Image: 'homelab-test/busybox:1', name, Cmd: ['sleep', '3600'], Labels: { 'homelab-control-plane.bench': tag }, HostConfig: { Init: true } });
    await c.start();
  }
  await mkdir(path.join(root, 'hosts', 'dk'), { recursive: true });
  await writeFile(path.join(root, 'hosts', 'dk', 'services.yaml'), `docker:\n  socket: /var/run/docker.sock\nservices:\n${names.map((n, i) => `  c${i}:\n    containers: [${n}]`).join('\n')}\n`);
  const home = path.join(root, 'homelab');
  const running = await startControlPlane(loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: path.join(root, 'hosts'), PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'silent' }), createLogger('silent'));
  const firstEvent = new Map();
  const stream = await docker.getEvents({ filters: { type: ['container'], label: [`homelab-control-plane.bench=${tag}`] } });
  stream.on('data', (buf) => {
    for (const line of String(buf).split('\n').filter(Boolean)) {
      try {
        const e = JSON.parse(line);
        const n = e.Actor?.Attributes?.name;
        if (n && !firstEvent.has(n) && (e.Action === 'kill' || e.Action === 'restart' || e.Action === 'stop')) firstEvent.set(n, e.timeNano / 1e6);
      } catch {}
    }
  });
  try {
    const file = path.join(home, 'events', new Date().toISOString().slice(0, 10), 'dk.jsonl');
    await mkdir(path.dirname(file), { recursive: true });
    const ev = (type, service) => `${JSON.stringify({ ts: new Date().toISOString(), node: 'dk', type, ...(service ? { service } : {}) })}\n`;
    await appendFile(file, ev('node_heartbeat') + names.map((_, i) => ev('service_healthy', `c${i}`)).join(''));
    await waitUntil(() => Object.keys(running.observer.current().services).length === TRIALS);
    const store = new ActionStore(path.join(home, 'actions'));
    const lat = [];
    for (let i = 0; i < TRIALS; i++) {
      const id = `container-restart-dk-c${i}`;
      await appendFile(file, ev('containers_not_running', `c${i}`));
      await waitUntil(() => existsSync(path.join(home, 'actions', 'pending', `${id}.json`)));
      const t0 = Date.now();
      await store.transition({ id, from: 'pending', to: 'approved', by: 'bench', patch: { approved_by: { via: 'telegram', name: 'bench' } } });
      await waitUntil(() => firstEvent.has(names[i]), 20_000);
      lat.push(firstEvent.get(names[i]) - t0);
      await waitUntil(async () => (await readdir(path.join(home, 'actions', 'completed'))).some((n) => n.startsWith(`${id}@`)), 30_000);
    }
    // Baseline: calling restart on the engine directly, until its first event.
    const direct = [];
    for (let i = 0; i < TRIALS; i++) {
      firstEvent.delete(names[i]);
      const t0 = Date.now();
      await docker.getContainer(names[i]).restart({ t: 1 });
      await waitUntil(() => firstEvent.has(names[i]), 20_000);
      direct.push(firstEvent.get(names[i]) - t0);
    }
    return { approve_to_docker_restart_ms: dist3(lat), baseline_direct_restart_call_to_first_event_ms: dist3(direct) };
  } finally {
    stream.destroy?.();
    await running.stop();
    for (const n of names) await docker.getContainer(n).remove({ force: true }).catch(() => {});
    await rm(root, { recursive: true, force: true });
  }
}

/** Runs bench/load.mjs in its own process against `url`; resolves with its JSON line. */
function loadFrom(url, rate, seconds, headers = {}) {
  return new Promise((resolve, reject) => {
    const args = [path.join(here, 'load.mjs'), url, String(rate), String(seconds), ...Object.entries(headers).map(([k, v]) => `${k}=${v}`)];
    // --load-cpu=N pins the load generator to CPU N (taskset), so that it never takes the
    // server's core: on a 2-core machine, run the bench itself with `taskset -c 0`.
    const child = LOAD_CPU === undefined ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn('taskset', ['-c', LOAD_CPU, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load.mjs exited ${code}`))));
  });
}

/**
 * The read-only routes under load from another process: 100 nodes × 50 services, 200 pending
 * actions; /summary (plain, brotli, conditional) beside /healthz at 500 and 1000 requests/s.
 */
async function benchServe() {
  const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-bench-serve-'));
  const hosts = path.join(root, 'hosts');
  const home = path.join(root, 'homelab');
  const services = Array.from({ length: SERVICES }, (_, j) => `  svc-${j}: {}`).join('\n');
  for (let i = 0; i < NODES; i++) {
    await mkdir(path.join(hosts, `n${i}`), { recursive: true });
    await writeFile(path.join(hosts, `n${i}`, 'services.yaml'), `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${services}\n`);
  }
  const dir = path.join(home, 'events', new Date().toISOString().slice(0, 10));
  await mkdir(dir, { recursive: true });
  const OPEN = 200;
  for (let i = 0; i < NODES; i++) {
    const ts = new Date().toISOString();
    const lines = [{ ts, node: `n${i}`, type: 'node_heartbeat' }];
    for (let j = 0; j < SERVICES; j++) lines.push({ ts, node: `n${i}`, type: i * SERVICES + j < OPEN ? 'containers_not_running' : 'service_healthy', service: `svc-${j}` });
    await writeFile(path.join(dir, `n${i}.jsonl`), lines.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }
  const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'silent', AGENT_SILENT_AFTER_S: '3600' });
  const running = await startControlPlane(cfg, createLogger('silent'));
  try {
    await running.loops.supervisor.runNow();
    const pendingDir = path.join(home, 'actions', 'pending');
    await waitUntil(async () => (await readdir(pendingDir)).filter((n) => n.endsWith('.json')).length >= OPEN, 60_000);
    const SECONDS = quick ? 2 : 10;
    const url = (p) => `${running.address}${p}`;
    const first = await fetch(url('/summary'));
    const summaryBytes = (await first.arrayBuffer()).byteLength;
    const out = { services: NODES * SERVICES, pending_actions: OPEN, summary_bytes: summaryBytes, seconds_per_run: SECONDS, load_generator: `bench/load.mjs in its own process${LOAD_CPU === undefined ? '' : ` pinned to CPU ${LOAD_CPU}`}, open loop, latency from when each request was due`, events_per_s_meanwhile: SERVE_EVENTS };
    // Events keep arriving meanwhile (bench/events-load.mjs, its own process): the world and so
    // /summary change all the time, as on a busy homelab.
    const events = SERVE_EVENTS > 0 ? spawn(process.execPath, [path.join(here, 'events-load.mjs'), path.join(home, 'events'), String(SERVE_EVENTS), String(SECONDS * 12 + 30), String(NODES), String(SERVICES)], { stdio: ['ignore', 'ignore', 'inherit'] }) : undefined;
    try {
    for (const rate of quick ? [500] : [500, 1000]) {
      // Warm up at this rate first (JIT, sockets, the first builds): the baseline is not measured cold.
      await loadFrom(url('/healthz'), rate, 2);
      await loadFrom(url('/summary'), rate, 2);
      const healthz = await loadFrom(url('/healthz'), rate, SECONDS);
      const summary = await loadFrom(url('/summary'), rate, SECONDS);
      const br = await loadFrom(url('/summary'), rate, SECONDS, { 'accept-encoding': 'br' });
      const conditional = await loadFrom(url('/summary'), rate, SECONDS, { 'if-none-match': 'auto' });
      const trim = (r) => ({ p50: r.p50, p95: r.p95, p99: r.p99, max: r.max, errors: r.errors, statuses: r.statuses, bytes_per_request: Math.round(r.bytes / Math.max(1, r.answered)) });
      out[`at_${rate}_rps`] = {
        summary_ms: trim(summary),
        summary_brotli_ms: trim(br),
        summary_if_none_match_ms: trim(conditional),
        baseline_healthz_ms: trim(healthz),
        summary_p99_over_healthz_p99: Math.round((summary.p99 / healthz.p99) * 100) / 100,
        summary_brotli_p99_over_healthz_p99: Math.round((br.p99 / healthz.p99) * 100) / 100,
      };
    }
    } finally {
      events?.kill();
    }
    return out;
  } finally {
    await running.stop();
    await rm(root, { recursive: true, force: true });
  }
}

const started = performance.now();
const report = {
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version, node_flags: process.execArgv.join(' ') },
  quick,
};
// --only a,b runs a part of it: replay, year, scale, supervisor, redact, live, chains, serve, telegram, sustained, docker, nats, failover.
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const want = (k) => !only || only.includes(k);
const sections = { replay: benchReplay, year: benchYear, scale: benchScale, supervisor: benchPlan, redact: benchRedact, live: benchEventToPending, chains: benchChains, serve: benchServe, telegram: benchTelegram, sustained: benchSustained, docker: benchApproveToRestart, nats: benchNats, failover: benchFailover };
report.section_seconds = {};
for (const [name, run] of Object.entries(sections)) {
  if (!want(name)) continue;
  const t = performance.now();
  report[name] = await run();
  report.section_seconds[name] = Math.round((performance.now() - t) / 100) / 10;
}
report.total_seconds = Math.round((performance.now() - started) / 1000);
console.log(JSON.stringify(report, null, 2));
// npm run leak: the sustained load for 20 minutes; RSS must stay within 10 % of minute 2's.
if (process.argv.includes('--leak')) {
  const growth = report.sustained?.rss_last_minute_over_minute_2;
  const flat = growth !== undefined && growth <= 1.1;
  console.error(flat ? `leak check: RSS flat (last minute / minute 2 = ${growth})` : `leak check FAILED: RSS last minute / minute 2 = ${growth} (more than 1.10)`);
  if (!flat) process.exitCode = 1;
}
