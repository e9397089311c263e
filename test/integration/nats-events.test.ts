// Events over NATS JetStream against a real nats-server (Debian's 2.9, started here): the control
// plane's durable consumer writes them into the events files the observer reads, acknowledges
// them once written, says and terminates what is no event of its node, resumes after a restart,
// starts with the server away (and says so on /healthz), and refuses to start with credentials
// the server refuses. The agent's NATS sender spools while the server is away.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connect, nkeys, type NatsConnection } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { natsSender, PushSink } from '../../src/agent/sinks.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { EVENTS_STREAM, eventMsgId, eventSubject } from '../../src/nats/events.js';
import { cliPath, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { natsMissing, natsOperator, startNats, startNatsCluster, type TestNats } from '../support/nats.js';
import { freePort } from '../support/registry.js';
import { startRunChild } from '../support/child.js';
import { cleanReplay } from '../support/replay.js';
import { makeCa, makeCert } from '../support/transport.js';

const missing = natsMissing();
if (missing) console.warn(`NATS tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)('events over NATS JetStream', () => {
  let root: string;
  let hosts: string;
  let nats: TestNats | undefined;
  let running: Running | undefined;
  let client: NatsConnection | undefined;

  beforeEach(async () => {
    root = await tempDir('hcp-nats-');
    hosts = path.join(root, 'hosts');
    await writeHosts(hosts, { pi: 'services:\n  web: {}\n  db: {}\n' });
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await client?.close();
    client = undefined;
    await nats?.stop();
    nats = undefined;
    await removeDir(root);
  });

  const config = (url: string, extra: Record<string, string> = {}) =>
    loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, 'homelab'), HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600', NATS_URL: url, CONTROL_PLANE_ID: 'cp-a', ...extra });
  const event = (seq: number, type: string, service?: string, node = 'pi') => ({ ts: new Date().toISOString(), node, type, agent: 'a1', seq, ...(service ? { service } : {}) });
  // Right after the stream is made, a loaded server may answer a publish with "no responders"
  // (503) for a moment: sent again, as the agent's spool does.
  const publish = async (e: ReturnType<typeof event>, subject = eventSubject(e.node)) => {
    const js = client!.jetstream();
    return await waitFor(() => js.publish(subject, JSON.stringify(e), { msgID: eventMsgId(e) }).catch((err: Error & { code?: string }) => {
      if (err.code === '503') return undefined;
      throw err;
    }), { what: `event ${e.seq} acknowledged` });
  };
  const status = (r: Running, service: string) => r.observer.current().services[`pi/${service}`]?.status;
  const healthz = async (r: Running) => {
    const res = await fetch(`${r.address}/healthz`);
    return { code: res.status, body: (await res.json()) as { problems: string[]; nats?: { state: string; written: number; refused: number } } };
  };

  it('reads the stream into the events files, acknowledged once written; a duplicate id is stored once; what is no event of its node is said and terminated', async () => {
    nats = await startNats(root);
    const mem = memoryLogger();
    running = await startControlPlane(config(nats.url), mem.log);
    client = await connect({ servers: nats.url });
    await waitFor(async () => (await client!.jetstreamManager()).streams.info(EVENTS_STREAM).catch(() => undefined), { what: 'the stream made by the control plane' });
    const first = await publish(event(1, 'containers_not_running', 'web'));
    expect(first.duplicate).toBe(false);
    await waitFor(() => status(running!, 'web') === 'unhealthy', { what: 'the event in the world' });
    // The same identity again (an agent's retry after a lost ack): the stream keeps one.
    expect((await publish(event(1, 'containers_not_running', 'web'))).duplicate).toBe(true);
    // Not JSON; an event of another node on pi's subject; an event without its service.
    const js = client.jetstream();
    const notJson = await js.publish(eventSubject('pi'), 'not json', { msgID: 'bad-1' });
    const otherNode = await publish(event(2, 'containers_not_running', 'db', 'other'), eventSubject('pi'));
    await publish({ ...event(3, 'containers_not_running'), service: undefined } as never);
    await publish(event(4, 'service_healthy', 'db'));
    await waitFor(() => status(running!, 'db') === 'healthy', { what: 'the event after the refused ones' });
    await waitFor(async () => (await healthz(running!)).body.nats?.refused === 3, { what: 'the refused messages counted' });
    expect(mem.text()).toMatch(/message\(s\) of HOMELAB_EVENTS are not events of their node; not read \(still in the stream/);
    expect(mem.text()).toMatch(/not JSON/);
    expect(mem.text()).toMatch(/is of node other; pi may only send its own events/);
    // Everything acknowledged (the refused ones terminated): nothing pending, nothing redelivered.
    const jsm = await client.jetstreamManager();
    await waitFor(async () => {
      const c = await jsm.consumers.info(EVENTS_STREAM, 'cp-a');
      return c.num_pending === 0 && c.num_ack_pending === 0;
    }, { what: 'every message acknowledged' });
    const day = new Date().toISOString().slice(0, 10);
    const lines = (await readFile(path.join(root, 'homelab', 'events', day, 'pi.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 4]);
    const h = await healthz(running);
    expect(h.code).toBe(200);
    expect(h.body.nats).toMatchObject({ state: 'up', written: 2, refused: 3 });
    const metrics = await (await fetch(`${running.address}/metrics`)).text();
    expect(metrics).toMatch(/^homelab_nats_up\{consumer="cp-a"\} 1$/m);
    expect(metrics).toMatch(/^homelab_nats_event_messages_total\{outcome="written"\} 2$/m);
    expect(metrics).toMatch(/^homelab_nats_event_messages_total\{outcome="refused"\} 3$/m);
    // The operator's view of it: the stream, the consumer, a refused message by its sequence.
    const cli = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'nats', ...args], { env: { PATH: process.env.PATH, HOMELAB_ROOT: path.join(root, 'homelab'), HOSTS_DIR: hosts, NATS_URL: nats!.url }, encoding: 'utf8', timeout: 30_000 });
    const st = cli('status', '-o', 'json');
    expect(st.status).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ stream: { messages: 5, replicas: 1, max_age_days: 30 }, consumers: [{ name: 'cp-a', pending: 0, ack_pending: 0 }] });
    expect(cli('status').stdout).toMatch(/^HOMELAB_EVENTS: 5 messages, \d+ bytes, #1–#5, 1 replica\(s\), kept 30 days\nCONSUMER  PENDING/);
    expect(cli('message', String(notJson.seq)).stdout).toMatch(/^#\d+ on homelab\.events\.pi at .* \(id bad-1\)\nrefused: not JSON/);
    expect(cli('message', String(otherNode.seq)).stdout).toMatch(/refused: is of node other; pi may only send its own events/);
    expect(cli('message', '999').status).toBe(1);
    expect(cli('message', 'x').status).toBe(2);
  });

  it('a restart resumes where its consumer was: events published while it was stopped are read once', async () => {
    nats = await startNats(root);
    running = await startControlPlane(config(nats.url), memoryLogger().log);
    client = await connect({ servers: nats.url });
    await waitFor(async () => (await client!.jetstreamManager()).streams.info(EVENTS_STREAM).catch(() => undefined), { what: 'the stream' });
    await publish(event(1, 'containers_not_running', 'web'));
    await waitFor(() => status(running!, 'web') === 'unhealthy', { what: 'the first event' });
    await running.stop();
    running = undefined;
    await publish(event(2, 'service_healthy', 'web'));
    await publish(event(3, 'containers_not_running', 'db'));
    running = await startControlPlane(config(nats.url), memoryLogger().log);
    await waitFor(() => status(running!, 'web') === 'healthy' && status(running!, 'db') === 'unhealthy', { what: 'the events published while stopped' });
    const day = new Date().toISOString().slice(0, 10);
    const lines = (await readFile(path.join(root, 'homelab', 'events', day, 'pi.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3]);
  });

  it('the server killed and started again: the consumer reads on; a stop with the server away takes moments', async () => {
    nats = await startNats(root);
    running = await startControlPlane(config(nats.url), memoryLogger().log);
    client = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    await waitFor(async () => (await client!.jetstreamManager()).streams.info(EVENTS_STREAM).catch(() => undefined), { what: 'the stream' });
    await publish(event(1, 'containers_not_running', 'web'));
    await waitFor(() => status(running!, 'web') === 'unhealthy', { what: 'the first event' });
    await nats.stop(true);
    await waitFor(async () => (await healthz(running!)).body.problems.some((p) => /nats unreachable/.test(p)), { what: 'the loss said on /healthz' });
    await nats.start();
    await waitFor(async () => (await healthz(running!)).code === 200, { timeoutMs: 60_000, what: 'the control plane back on NATS' });
    await waitFor(async () => (await publish(event(2, 'service_healthy', 'web')).catch(() => undefined)) !== undefined, { timeoutMs: 30_000, what: 'a publish after the restart' });
    await waitFor(() => status(running!, 'web') === 'healthy', { timeoutMs: 60_000, what: 'the event after the restart' });
    await nats.stop(true);
    await waitFor(async () => (await healthz(running!)).code === 503, { what: 'the server away again' });
    const t = Date.now();
    await running.stop();
    running = undefined;
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it('a cluster of three: the stream kept on each (R3); one server killed mid-run, no event is lost', async () => {
    const cluster = await startNatsCluster(root);
    try {
      const urls = cluster.map((s) => s.url).join(',');
      const mem = memoryLogger();
      running = await startControlPlane(config(urls), mem.log);
      client = await connect({ servers: cluster.map((s) => s.url), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
      const jsm = await waitFor(async () => {
        const m = await client!.jetstreamManager().catch(() => undefined);
        return m && (await m.streams.info(EVENTS_STREAM).catch(() => undefined)) ? m : undefined;
      }, { timeoutMs: 60_000, what: 'the stream on the cluster' });
      expect((await jsm.streams.info(EVENTS_STREAM)).config.num_replicas).toBe(3);
      // Each publish is retried until the stream acknowledges it, as the agent's spool does.
      const send = async (seq: number) => {
        const e = { ...event(seq, 'node_heartbeat'), ts: new Date(Date.now() - 60_000 + seq).toISOString() };
        await waitFor(async () => (await publish(e).catch(() => undefined)) !== undefined, { timeoutMs: 60_000, what: `event ${seq} acknowledged` });
      };
      for (let seq = 1; seq <= 25; seq++) await send(seq);
      await cluster[0]!.stop(true);
      for (let seq = 26; seq <= 50; seq++) await send(seq);
      await waitFor(() => running!.observer.counters().applied >= 50, { timeoutMs: 60_000, what: 'all 50 events applied' }).catch((err: Error) => {
        // What the control plane said of NATS meanwhile (a consumer's missed heartbeats, timeouts).
        throw new Error(`${err.message} (${running!.observer.counters().applied}); its NATS log: ${mem.lines.filter((l) => /nats|consumer/i.test(JSON.stringify(l))).map((l) => `${String(l.time)} ${String(l.msg)}`).join(' | ')}`);
      });
      const day = new Date().toISOString().slice(0, 10);
      const seqs = (await readFile(path.join(root, 'homelab', 'events', day, 'pi.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).seq as number);
      expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(running.observer.counters()).toMatchObject({ applied: 50 });
    } finally {
      await running?.stop();
      running = undefined;
      await client?.close();
      client = undefined;
      for (const s of cluster) await s.stop();
    }
  });

  it('starts with NATS away (/healthz 503 "nats unreachable"), and reads once the server is up', async () => {
    const port = await freePort();
    const mem = memoryLogger();
    running = await startControlPlane(config(`nats://127.0.0.1:${port}`), mem.log);
    const away = await healthz(running);
    expect(away.code).toBe(503);
    expect(away.body.problems.join('; ')).toMatch(/nats unreachable/);
    // The loops go on meanwhile: the update checks that cannot be read are said once, no pass fails.
    await running.loops.supervisor.runNow();
    await running.loops.supervisor.runNow();
    expect(running.loops.supervisor.status.failures).toBe(0);
    expect(mem.lines.filter((l) => /cannot read the update checks from NATS KV/.test(String(l.msg)))).toHaveLength(1);
    nats = await startNats(root, { port });
    await waitFor(async () => (await healthz(running!)).code === 200, { timeoutMs: 60_000, what: 'the control plane to reach NATS' });
    client = await connect({ servers: nats.url });
    await waitFor(async () => (await client!.jetstreamManager()).streams.info(EVENTS_STREAM).catch(() => undefined), { what: 'the stream' });
    await publish(event(1, 'containers_not_running', 'web'));
    await waitFor(() => status(running!, 'web') === 'unhealthy', { what: 'the event' });
  });

  it('credentials the server refuses stop the start, naming the setting; a client without them is refused', async () => {
    nats = await startNats(root, { user: 'cp', password: 'right-password' });
    const err = await startControlPlane(config(`nats://cp:wrong-password@127.0.0.1:${nats.port}`), memoryLogger().log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ variable: 'NATS_URL', message: expect.stringMatching(/^NATS_URL: NATS refused the credentials/) });
    expect((err as Error).message).not.toMatch(/wrong-password/);
    await expect(connect({ servers: nats.url })).rejects.toThrow(/authorization/i);
    running = await startControlPlane(config(`nats://cp:right-password@127.0.0.1:${nats.port}`), memoryLogger().log);
    expect((await healthz(running)).body.nats).toMatchObject({ state: 'up' });
    // `control-plane run` itself: exit 2 with one line naming the setting, for refused credentials
    // and for a NATS_URL that is no server list.
    const env = { PATH: process.env.PATH, HOMELAB_ROOT: path.join(root, 'other'), HOSTS_DIR: hosts, PORT: '0' };
    for (const url of [`nats://cp:wrong-password@127.0.0.1:${nats.port}`, 'http://nats.lan:4222']) {
      const child = startRunChild({ ...env, NATS_URL: url });
      expect((await child.exited).code).toBe(2);
      expect(child.output()).toMatch(/configuration error: NATS_URL: /);
      expect(child.output()).not.toMatch(/wrong-password/);
    }
  });

  it("with per-user permissions (docs/operator/scale-out.md), a node's user publishes its own events and no other node's", async () => {
    const users = `authorization {\n  users = [\n    { user: pi, password: pi-password-0123, permissions: { publish: ["homelab.events.pi"], subscribe: ["_INBOX.>"] } }\n    { user: cp, password: cp-password-0123 }\n  ]\n}\n`;
    nats = await startNats(root, { config: users });
    running = await startControlPlane(config(`nats://cp:cp-password-0123@127.0.0.1:${nats.port}`), memoryLogger().log);
    client = await connect({ servers: nats.url, user: 'cp', pass: 'cp-password-0123' });
    await waitFor(async () => (await client!.jetstreamManager()).streams.info(EVENTS_STREAM).catch(() => undefined), { what: 'the stream' });
    const settings = config(`nats://pi:pi-password-0123@127.0.0.1:${nats.port}`).nats!;
    const sink = new PushSink(natsSender(settings, 'agent pi'), path.join(root, 'spool'), memoryLogger().log);
    try {
      await sink.write([event(1, 'containers_not_running', 'web')] as never);
      expect(await sink.spooled()).toEqual([]);
      await waitFor(() => status(running!, 'web') === 'unhealthy', { what: "the node's own event" });
    } finally {
      await sink.stop();
    }
    const pi = await connect({ servers: nats.url, user: 'pi', pass: 'pi-password-0123' });
    try {
      await expect(pi.jetstream().publish(eventSubject('other'), JSON.stringify(event(2, 'containers_not_running', 'web', 'other')), { timeout: 2000 })).rejects.toThrow();
    } finally {
      await pi.close();
    }
    expect((await (await client.jetstreamManager()).streams.info(EVENTS_STREAM)).state.messages).toBe(1);
  });

  it('NATS down: the agent spools, two control planes wait; once it is up each reads every event once, and both worlds equal a clean replay', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const rootOf = (id: string) => path.join(root, id);
    const cp = (id: string) => loadConfig({ PORT: '0', HOMELAB_ROOT: rootOf(id), HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600', NATS_URL: url, CONTROL_PLANE_ID: id });
    const a = await startControlPlane(cp('cp-a'), memoryLogger().log);
    const b = await startControlPlane(cp('cp-b'), memoryLogger().log);
    const sink = new PushSink(natsSender(cp('cp-a').nats!, 'agent pi'), path.join(root, 'spool'), memoryLogger().log);
    try {
      const t0 = Date.now() - 120_000;
      const types = ['containers_not_running', 'service_healthy', 'containers_unhealthy', 'service_healthy'];
      const events = Array.from({ length: 20 }, (_, i) => ({ ...event(i + 1, types[i % 4]!, i % 3 === 0 ? 'db' : 'web'), ts: new Date(t0 + i * 1000).toISOString() }));
      for (const e of events) await sink.write([e] as never);
      expect(await sink.spooled()).toHaveLength(20);
      for (const r of [a, b]) expect((await healthz(r)).code).toBe(503);
      nats = await startNats(root, { port });
      await waitFor(async () => (await healthz(a)).code === 200 && (await healthz(b)).code === 200, { timeoutMs: 60_000, what: 'both control planes on NATS' });
      await waitFor(async () => {
        await sink.drain();
        return (await sink.spooled()).length === 0;
      }, { timeoutMs: 30_000, what: 'the spool to drain' });
      await waitFor(() => a.observer.counters().applied === 20 && b.observer.counters().applied === 20, { timeoutMs: 30_000, what: 'every event read by both' });
      const worlds = [];
      for (const [id, r] of [['cp-a', a], ['cp-b', b]] as const) {
        await r.observer.flush();
        const l = { services: await readFile(path.join(rootOf(id), 'world', 'services.json'), 'utf8'), nodes: await readFile(path.join(rootOf(id), 'world', 'nodes.json'), 'utf8') };
        expect(l).toEqual(await cleanReplay({ HOMELAB_ROOT: rootOf(id), HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600' }));
        worlds.push(l.services);
      }
      expect(worlds[0]).toEqual(worlds[1]);
    } finally {
      await sink.stop();
      await a.stop();
      await b.stop();
    }
  });

  it('TLS with a client certificate (NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY) and an NKey (NATS_NKEY): connected; a server certificate from another CA stops the start, naming NATS_TLS_CA', async () => {
    const pki = path.join(root, 'pki');
    await mkdir(pki, { recursive: true });
    const ca = makeCa(pki, 'ca');
    const server = makeCert(pki, 'server', ca, 'subjectAltName=IP:127.0.0.1,DNS:localhost');
    const clientCert = makeCert(pki, 'client', ca, 'extendedKeyUsage=clientAuth');
    const user = nkeys.createUser();
    const seedFile = path.join(pki, 'cp.nk');
    await writeFile(seedFile, new TextDecoder().decode(user.getSeed()));
    const conf = `tls {\n  cert_file: "${server.cert}"\n  key_file: "${server.key}"\n  ca_file: "${ca.cert}"\n  verify: true\n}\nauthorization {\n  users = [ { nkey: ${user.getPublicKey()} } ]\n}\n`;
    nats = await startNats(root, { config: conf });
    const url = `tls://127.0.0.1:${nats.port}`;
    running = await startControlPlane(config(url, { NATS_TLS_CA: ca.cert, NATS_TLS_CERT: clientCert.cert, NATS_TLS_KEY: clientCert.key, NATS_NKEY: seedFile }), memoryLogger().log);
    expect((await healthz(running)).body.nats).toMatchObject({ state: 'up' });
    await running.stop();
    running = undefined;
    // The server's certificate from a CA this side was not given: not started (exit 2 at the CLI).
    const other = makeCa(path.join(root, 'pki'), 'other');
    const refused = await startControlPlane(config(url, { NATS_TLS_CA: other.cert, NATS_TLS_CERT: clientCert.cert, NATS_TLS_KEY: clientCert.key, NATS_NKEY: seedFile }), memoryLogger().log).catch((e: unknown) => e);
    if (!(refused instanceof Error)) await (refused as Running).stop();
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(/^NATS_TLS_CA: the NATS server's TLS certificate is not signed by a CA this side trusts/);
  });

  it('a .creds file (NATS_CREDS: a user JWT and its seed, the server in operator mode): connected, the actions bucket made; a user of an account the server does not know stops the start, naming NATS_CREDS', async () => {
    const op = await natsOperator(path.join(root, 'operator'));
    nats = await startNats(root, { config: op.config });
    running = await startControlPlane(config(nats.url, { NATS_CREDS: op.creds }), memoryLogger().log);
    expect((await healthz(running)).body.nats).toMatchObject({ state: 'up', actions: 'read' });
    await running.stop();
    running = undefined;
    const refused = await startControlPlane(config(nats.url, { NATS_CREDS: op.stranger }), memoryLogger().log).catch((e: unknown) => e);
    if (!(refused instanceof Error)) await (refused as Running).stop();
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(/^NATS_CREDS: /);
  });

  it("the agent's NATS sender spools while the server is away and publishes each event once after", async () => {
    const port = await freePort();
    const settings = config(`nats://127.0.0.1:${port}`).nats!;
    const mem = memoryLogger();
    const sink = new PushSink(natsSender(settings, 'agent pi'), path.join(root, 'spool'), mem.log);
    try {
      await sink.write([event(1, 'containers_not_running', 'web'), event(2, 'containers_not_running', 'db')] as never);
      expect(await sink.spooled()).toHaveLength(2);
      expect(sink.lastError).toBeDefined();
      nats = await startNats(root, { port });
      running = await startControlPlane(config(nats.url), memoryLogger().log);
      client = await connect({ servers: nats.url });
      await waitFor(async () => (await client!.jetstreamManager()).streams.info(EVENTS_STREAM).catch(() => undefined), { what: 'the stream' });
      await waitFor(async () => {
        await sink.drain();
        return (await sink.spooled()).length === 0;
      }, { timeoutMs: 30_000, what: 'the spool to drain' });
      await waitFor(() => status(running!, 'web') === 'unhealthy' && status(running!, 'db') === 'unhealthy', { what: 'both events in the world' });
      const info = await (await client.jetstreamManager()).streams.info(EVENTS_STREAM);
      expect(info.state.messages).toBe(2);
      // Sent again (a lost ack): the stream's de-duplication keeps one of each.
      await sink.write([event(1, 'containers_not_running', 'web')] as never);
      expect((await (await client.jetstreamManager()).streams.info(EVENTS_STREAM)).state.messages).toBe(2);
    } finally {
      await sink.stop();
    }
  });
});
