// One fleet size of `npm run bench -- --only=scale`, in a process of its own: N nodes × 50
// services, `open` actions left pending, then `trials` drifts each timed from the append of its
// event to its pending action file; CPU per event and RSS of this process (the control plane).
import { mkdir, mkdtemp, writeFile, appendFile, rm, readdir } from 'node:fs/promises';
import { fork, spawn } from 'node:child_process';
import { existsSync, watch as watchFs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const dist = process.argv[2];
const NODES = Number(process.argv[3] ?? 1000);
const OPEN = Number(process.argv[4] ?? 1000);
// Services of each node: s0–s11 for the pending trials (the first drift after the open actions'
// burst, then TRIALS), s12–s23 for the message trials, s24–s49 for the open actions.
const TRIALS = Number(process.argv[5] ?? 100);
const SERVICES = 50;
if (TRIALS + 1 > 12 * NODES || OPEN > 26 * NODES || Number(process.env.SCALE_MESSAGE_TRIALS ?? 100) > 12 * NODES) throw new Error(`too many trials or open actions for ${NODES} nodes`);
const { loadConfig } = await import(path.join(dist, 'config.js'));
const { startControlPlane } = await import(path.join(dist, 'main.js'));
const { createLogger } = await import(path.join(dist, 'log.js'));
const root = await mkdtemp(path.join(os.tmpdir(), 'hcp-scale-'));
const hosts = path.join(root, 'hosts');
const home = path.join(root, 'homelab');
const day = new Date().toISOString().slice(0, 10);
await mkdir(path.join(home, 'events', day), { recursive: true });
const svcYaml = ['services:', ...Array.from({ length: SERVICES }, (_, s) => `  s${s}: {}`)].join('\n') + '\n';
const now = new Date().toISOString();
for (let n = 0; n < NODES; n++) {
  await mkdir(path.join(hosts, `n${n}`), { recursive: true });
  await writeFile(path.join(hosts, `n${n}`, 'services.yaml'), svcYaml);
  const lines = [{ ts: now, node: `n${n}`, type: 'node_heartbeat' }];
  for (let s = 0; s < SERVICES; s++) lines.push({ ts: now, node: `n${n}`, type: 'service_healthy', service: `s${s}` });
  await writeFile(path.join(home, 'events', day, `n${n}.jsonl`), lines.map((e) => JSON.stringify(e)).join('\n') + '\n');
}
// SCALE_BOTAPI=<module>: the Bot API stand-in of the tests (bench.mjs transpiles it), so that
// event → Telegram message is measured too, after the pending trials. In a process of its own
// (bench/bot-api-process.mjs): what it keeps is not the control plane's memory.
const TOKEN = '123456789:AAHscaleScaleScaleScaleScaleScal_x';
const api = process.env.SCALE_BOTAPI ? await botApiProcess(process.env.SCALE_BOTAPI) : undefined;
const telegramEnv = api ? { TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_CHAT_ID: '5', TELEGRAM_ADMIN_IDS: '1', TELEGRAM_API_ROOT: api.url } : {};
const cfg = loadConfig({ HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'silent', MISSING_GRACE_S: '1', ...telegramEnv });
const t0 = performance.now();
const running = await startControlPlane(cfg, createLogger('silent'));
const startS = (performance.now() - t0) / 1000;
const waitUntil = async (fn, ms = 120_000) => { const end = Date.now() + ms; while (!(await fn())) { if (Date.now() > end) throw new Error('timeout'); await new Promise((r) => setTimeout(r, 2)); } };
// Open actions: services made unhealthy, spread over the fleet.
const pending = path.join(home, 'actions', 'pending');
for (let i = 0; i < OPEN; i++) {
  const n = i % NODES, s = 24 + (Math.floor(i / NODES) % (SERVICES - 24));
  await appendFile(path.join(home, 'events', day, `n${n}.jsonl`), JSON.stringify({ ts: new Date().toISOString(), node: `n${n}`, type: 'containers_not_running', service: `s${s}` }) + '\n');
}
await waitUntil(async () => (await readdir(pending)).filter((x) => x.endsWith('.json')).length >= OPEN);
const lat = [];
// SCALE_PROFILE=<file>: a CPU profile of the trials alone (not the start nor the open actions);
// with SCALE_PROFILE_PHASE=message, of the event → message trials instead.
const profilePhase = process.env.SCALE_PROFILE_PHASE ?? 'pending';
const profiler = process.env.SCALE_PROFILE && profilePhase === 'pending' ? await startProfile() : undefined;
// One drift, timed from its append to its pending action file; each a service of its own (s0–s11
// are never made unhealthy before): its action is new.
const drift = async (i) => {
  const n = i % NODES, svc = `s${Math.floor(i / NODES)}`;
  const id = `container-restart-n${n}-${svc}.json`;
  const t = performance.now();
  await appendFile(path.join(home, 'events', day, `n${n}.jsonl`), JSON.stringify({ ts: new Date().toISOString(), node: `n${n}`, type: 'containers_not_running', service: svc }) + '\n');
  await waitUntil(() => existsSync(path.join(pending, id)));
  return performance.now() - t;
};
// The first drift lands while the control plane still digests the burst of open actions (the
// supervisor plans again the nodes it just proposed for): reported on its own, not a trial.
const afterBurst = await drift(0);
const allocSession = process.env.SCALE_ALLOC ? await (async () => { const { Session } = await import('node:inspector/promises'); const se = new Session(); se.connect(); await se.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }); return se; })() : undefined;
// SCALE_TRACE=<file>: each trial's start (performance.now(), and the monotonic clock in µs that a
// CPU profile's samples use) and length, each garbage collection and each file written in world/
// and state/ meanwhile (what a slow trial waited for), as JSON.
const trace = process.env.SCALE_TRACE ? { trials: [], gc: [], writes: [] } : undefined;
// The world files and state documents written meanwhile, by name (not temp names).
const watchers = trace ? ['world', 'state'].map((d) => watchFs(path.join(home, d), (_kind, name) => name && !name.startsWith('.') && trace.writes.push({ at: performance.now(), name }))) : [];
const gcObserver = trace && new (await import('node:perf_hooks')).PerformanceObserver((list) => {
  for (const e of list.getEntries()) trace.gc.push({ at: e.startTime, ms: e.duration, kind: e.detail?.kind });
});
gcObserver?.observe({ entryTypes: ['gc'] });
const cpu0 = process.cpuUsage();
for (let i = 1; i <= TRIALS; i++) {
  const at = performance.now();
  const mono = Number(process.hrtime.bigint() / 1000n);
  lat.push(await drift(i));
  trace?.trials.push({ at, ms: lat.at(-1), mono });
}
const cpu = process.cpuUsage(cpu0);
if (trace) {
  gcObserver.disconnect();
  for (const w of watchers) w.close();
  await writeFile(process.env.SCALE_TRACE, JSON.stringify(trace));
}
if (allocSession) { const { profile } = await allocSession.post('HeapProfiler.stopSampling'); await writeFile(process.env.SCALE_ALLOC, JSON.stringify(profile)); }
if (profiler) await profiler.stop(process.env.SCALE_PROFILE);
lat.sort((a, b) => a - b);
// Nearest rank: the smallest value with at least q of the values at or below it (of 100 trials,
// the p99 is the 99th; of fewer than 100, the largest).
const pOf = (xs, q) => Math.round(xs[Math.max(0, Math.ceil(q * xs.length) - 1)] * 10) / 10;
const p = (q) => pOf(lat, q);
// /summary against /healthz, one request at a time (plain, as curl or a Home Assistant sensor
// asks), from a process of its own (bench/timed-get.mjs): the client's buffers are not the
// control plane's memory.
const timed = async (route) => {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'timed-get.mjs'), `${running.address}${route}`, '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`timed-get ${route}: exit ${code}`);
  return JSON.parse(out);
};
const summaryMs = await timed('/summary');
const healthzMs = await timed('/healthz');
const mem = process.memoryUsage();
const rssMb = Math.round(mem.rss / 1048576);
const mb = (x) => Math.round(x / 1048576);
// SCALE_HEAP=<file>: a heap snapshot here (what the RSS is made of).
if (process.env.SCALE_HEAP) (await import('node:v8')).writeHeapSnapshot(process.env.SCALE_HEAP);
const message = api ? await messageTrials() : undefined;
console.log(JSON.stringify({ nodes: NODES, services: NODES * SERVICES, open: OPEN, start_s: Math.round(startS * 10) / 10, after_burst_ms: Math.round(afterBurst * 10) / 10, trials: lat.length, p50: p(0.5), p99: p(0.99), ...(message ? { message_p50: pOf(message, 0.5), message_p99: pOf(message, 0.99), message_trials: message.length } : {}), cpu_ms_per_event: Math.round((cpu.user + cpu.system) / 1000 / TRIALS), summary_p99_ms: pOf(summaryMs, 0.99), healthz_p99_ms: pOf(healthzMs, 0.99), rss_mb: rssMb, heap_used_mb: mb(mem.heapUsed), heap_total_mb: mb(mem.heapTotal), external_mb: mb(mem.external) }));
await running.stop();
await api?.ask({ q: 'close' });
await rm(root, { recursive: true, force: true });

/**
 * Event appended → its action's message at the Bot API, one drift at a time on a fleet that
 * already has OPEN actions in the chat (they went out as one burst: a group message). The burst
 * window (30 s) is waited out first, so each trial is sent as its own message, as a drift alone
 * is; each drift resolves after its message (its edit), and trials are 2.1 s apart: within a
 * private chat's 1 message a second, each measures one message alone (as bench.mjs's own
 * event → message does).
 */
async function messageTrials() {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  await running.telegram.outbox.whenIdle();
  await sleep(31_000);
  await running.telegram.outbox.whenIdle();
  const n = Number(process.env.SCALE_MESSAGE_TRIALS ?? 100);
  const out = [];
  await api.ask({ q: 'watch' });
  const profiler = process.env.SCALE_PROFILE && profilePhase === 'message' ? await startProfile() : undefined;
  for (let i = 0; i < n; i++) {
    // Services s12–s23: neither the open actions' nor the pending trials'; nodes spread out.
    const node = `n${(i * 7) % NODES}`, svc = `s${12 + Math.floor(i / NODES)}`;
    const id = `container-restart-${node}-${svc}`;
    const file = path.join(home, 'events', day, `${node}.jsonl`);
    const t = performance.now();
    await appendFile(file, JSON.stringify({ ts: new Date().toISOString(), node, type: 'containers_not_running', service: svc }) + '\n');
    if (!(await api.ask({ q: 'await', id, ms: 30_000 })).hit) throw new Error(`no message naming ${id} within 30 s`);
    out.push(performance.now() - t);
    await appendFile(file, JSON.stringify({ ts: new Date().toISOString(), node, type: 'service_healthy', service: svc }) + '\n');
    await sleep(2100);
  }
  if (profiler) await profiler.stop(process.env.SCALE_PROFILE);
  const { refusals } = await api.ask({ q: 'refusals' });
  if (refusals.length) throw new Error(`the Bot API refused: ${JSON.stringify(refusals.slice(0, 3))}`);
  return out.sort((a, b) => a - b);
}

async function startProfile() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return { stop: async (file) => { const { profile } = await session.post('Profiler.stop'); await writeFile(file, JSON.stringify(profile)); session.disconnect(); } };
}

/** The Bot API stand-in's process: its `url`, and `ask` for a question's answer over IPC. */
async function botApiProcess(module) {
  const child = fork(path.join(import.meta.dirname, 'bot-api-process.mjs'), [module, TOKEN], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map();
  let next = 0;
  const first = new Promise((resolve, reject) => { child.once('message', resolve); child.once('exit', (code) => reject(new Error(`the Bot API stand-in exited: ${code}`))); });
  const { url } = await first;
  child.on('message', (m) => { waiting.get(m.re)?.(m); waiting.delete(m.re); });
  return { url, ask: (q) => new Promise((resolve) => { const re = ++next; waiting.set(re, resolve); child.send({ ...q, re }); }) };
}
