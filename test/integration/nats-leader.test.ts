// One leader among control planes on one NATS (docs/design/leader.md), against a real nats-server
// (Debian's 2.9, started here): the lease in HOMELAB_LEADER, its fencing by time (never two
// processes acting at once, even when the leader dies without a word), a lease given back at stop,
// and two `control-plane run` processes — the leader killed with SIGKILL while approvals arrive
// through the CLI, the standby leads, and every approved action is run exactly once.
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import { Lease } from '../../src/nats/lease.js';
import { KvDocs } from '../../src/nats/docs-kv.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';
import { eventMsgId, eventSubject } from '../../src/nats/events.js';
import { realClock } from '../../src/time/clock.js';
import { startRunChild, type RunChild } from '../support/child.js';
import { cliPath, memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { natsMissing, openKvStore, startNats, type TestNats } from '../support/nats.js';
import { spawnSync } from 'node:child_process';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { botEnv, FakeBotApi, TEST_BOT } from '../support/bot-api.js';

const missing = natsMissing();
if (missing) console.warn(`NATS leader tests skipped: ${missing}`);
const TTL_S = 3;

describe.skipIf(missing !== undefined)('one leader over NATS', () => {
  let root: string;
  let nats: TestNats | undefined;
  const conns: NatsConnection[] = [];
  const leases: Lease[] = [];
  const children: RunChild[] = [];

  beforeEach(async () => {
    root = await tempDir('hcp-leader-');
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    for (const l of leases.splice(0)) await l.stop();
    for (const c of conns.splice(0)) await c.close().catch(() => {});
    await nats?.stop();
    nats = undefined;
    await removeDir(root);
  });

  const lease = async (id: string, lost: string[] = []) => {
    const nc = await connect({ servers: nats!.url });
    conns.push(nc);
    const l = new Lease({ id, ttlS: TTL_S, clock: realClock, log: memoryLogger().log, onLost: (why) => lost.push(why) });
    leases.push(l);
    l.begin(nc);
    await l.firstLook();
    return { l, nc };
  };

  it('the first takes the lease, the second stands by; given back at stop, the standby leads with a higher epoch', async () => {
    nats = await startNats(root);
    const a = await lease('cp-a');
    const b = await lease('cp-b');
    expect(a.l.leading()).toBe(true);
    expect(b.l.leading()).toBe(false);
    expect(b.l.holder).toBe('cp-a');
    const first = a.l.epoch;
    await a.l.stop();
    await waitFor(() => b.l.leading(), { what: 'the standby to lead once the lease is given back', timeoutMs: 10_000 });
    expect(b.l.epoch).toBeGreaterThan(first);
  });

  it('a leader that dies without a word: the standby leads only once the dead one has stopped acting (never both)', async () => {
    nats = await startNats(root);
    const a = await lease('cp-a');
    const lostA: string[] = [];
    const b = await lease('cp-b', lostA);
    expect(a.l.leading()).toBe(true);
    // Cut off: no renewal reaches the server any more, and nothing is given back.
    await a.nc.close();
    let both = 0;
    await waitFor(
      () => {
        if (a.l.leading() && b.l.leading()) both++;
        return b.l.leading();
      },
      { what: 'the standby to lead after the lease ran out', timeoutMs: 20_000 },
    );
    expect(both).toBe(0);
    expect(a.l.leading()).toBe(false);
    expect(lostA).toEqual([]);
  });

  it('a standby that takes the lease acts at once: an action approved while it stood by runs without waiting for its interval', async () => {
    nats = await startNats(root);
    const held = await lease('cp-old');
    const hosts = path.join(root, 'hosts');
    await writeHosts(hosts, { pi: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n' });
    const mem = memoryLogger();
    const b = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, 'cp-b'), HOSTS_DIR: hosts, NATS_URL: nats.url, CONTROL_PLANE_ID: 'cp-b', LEASE_TTL_S: String(TTL_S), RECONCILE_INTERVAL_S: '3600' }), mem.log);
    try {
      const kv = await openKvStore(nats.url);
      const a = (await kv.store.create({ id: 'container-restart-pi-web', instance: '20261203T100000Z', type: 'container_restart', risk: 'low', node: 'pi', service: 'web', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: ['web'], drift_since: null }))!;
      await kv.store.transition({ id: a.id, from: 'pending', to: 'approved', by: 'cli:ann' });
      await kv.close();
      // The standby does not run it: it does not lead.
      await waitFor(async () => (await b.actions.get(a.id))?.state === 'approved', { what: 'the approval heard by the standby' });
      await b.loops.executor.runNow();
      expect((await b.actions.get(a.id))!.state).toBe('approved');
      // The old leader gives the lease back; the standby takes it and runs the action (no engine:
      // it fails) long before its next pass would come (an hour).
      await held.l.stop();
      await waitFor(async () => ['completed', 'failed'].includes((await b.actions.get(a.id))?.state ?? ''), { what: 'the approved action run by the new leader', timeoutMs: 15_000 });
      expect((await b.actions.get(a.id))!.history.map((h) => h.state)).toEqual(['pending', 'approved', 'running', 'failed']);
    } finally {
      await b.stop();
    }
  });

  it('a leader that cannot renew stops acting after TTL/2 and says it lost the lease after TTL', async () => {
    nats = await startNats(root);
    const lost: string[] = [];
    const a = await lease('cp-a', lost);
    expect(a.l.leading()).toBe(true);
    await nats.stop(true);
    await waitFor(() => !a.l.leading(), { what: 'the leader to stop acting', timeoutMs: 10_000 });
    await waitFor(() => lost.length === 1, { what: 'the lease said lost', timeoutMs: 20_000 });
    expect(lost[0]).toMatch(/lost the leader lease: not renewed for 3 s/);
  });

  it('two control planes: the leader SIGKILLed while approvals arrive through the CLI; the standby leads and every action runs exactly once', async () => {
    nats = await startNats(root);
    const hosts = path.join(root, 'hosts');
    const services = Array.from({ length: 10 }, (_, i) => `  s${i}: {}`).join('\n');
    await writeHosts(hosts, { pi: `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${services}\n` });
    const env = (id: string) => ({ PATH: process.env.PATH ?? '', PORT: '0', HOMELAB_ROOT: path.join(root, id), HOSTS_DIR: hosts, NATS_URL: nats!.url, CONTROL_PLANE_ID: id, LEASE_TTL_S: String(TTL_S), RECONCILE_INTERVAL_S: '1', LOG_LEVEL: 'info' });
    const a = startRunChild(env('cp-a'));
    children.push(a);
    const aUrl = await a.ready();
    const b = startRunChild(env('cp-b'));
    children.push(b);
    const bUrl = await b.ready();
    const role = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { nats: { role: string; epoch: number } }).nats;
    expect((await role(aUrl)).role).toBe('leader');
    expect((await role(bUrl)).role).toBe('standby');

    const client = await connect({ servers: nats.url });
    conns.push(client);
    for (let i = 0; i < 10; i++) {
      const e = { ts: new Date().toISOString(), node: 'pi', type: 'containers_not_running', agent: 'a1', seq: i + 1, service: `s${i}` };
      await waitFor(() => client.jetstream().publish(eventSubject('pi'), JSON.stringify(e), { msgID: eventMsgId(e) }).catch(() => undefined), { what: `event ${i}` });
    }
    const kv = await openKvStore(nats.url);
    try {
      await waitFor(async () => (await kv.store.list('pending')).length === 10, { what: '10 pending actions, proposed once each', timeoutMs: 20_000 });
      const ids = (await kv.store.list('pending')).map((x) => x.id);
      const approve = (id: string) => spawnSync(process.execPath, [cliPath, 'actions', 'approve', id, '--yes'], { env: env('cp-cli'), encoding: 'utf8' });
      for (const id of ids.slice(0, 5)) expect(approve(id).status).toBe(0);
      a.proc.kill('SIGKILL');
      for (const id of ids.slice(5)) expect(approve(id).status).toBe(0);
      await waitFor(async () => (await role(bUrl)).role === 'leader', { what: 'the standby to lead', timeoutMs: 20_000 });
      const done = await waitFor(
        async () => {
          const all = await Promise.all(ids.map((id) => kv.store.get(id)));
          return all.every((x) => x && (x.state === 'completed' || x.state === 'failed')) ? (all as Action[]) : undefined;
        },
        { what: 'every approved action finished', timeoutMs: 30_000 },
      );
      for (const x of done) {
        // Claimed once: one move to running, by the leader of its epoch.
        expect(x.history.filter((h) => h.state === 'running'), x.id).toHaveLength(1);
        expect(typeof x.epoch).toBe('number');
      }
      // Nothing proposed twice over the failover.
      expect((await kv.store.query({ states: ['pending', 'approved', 'running', 'completed', 'failed', 'rejected', 'cancelled'], limit: Infinity })).total).toBe(10);
    } finally {
      await kv.close();
    }
  });

  it('Telegram across a handover: the standby never polls while the other leads; the new leader goes on with the same message, and its buttons work', async () => {
    nats = await startNats(root);
    const api = await new FakeBotApi(TEST_BOT.token).start();
    const hosts = path.join(root, 'hosts');
    await writeHosts(hosts, { pi: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n', nas: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  db: {}\n' });
    const cfg = (id: string) => loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, id), HOSTS_DIR: hosts, NATS_URL: nats!.url, CONTROL_PLANE_ID: id, LEASE_TTL_S: String(TTL_S), RECONCILE_INTERVAL_S: '3600', ...botEnv(api) });
    // A maintenance of nas, as the CLI on any host starts it: its notice is opened by the leader.
    const stateClient = await connect({ servers: nats.url });
    conns.push(stateClient);
    const docs = new KvDocs();
    docs.begin(stateClient);
    await new SupervisorState(path.join(root, 'cli-state'), docs).maintenanceWindows.add('nas', 3_600_000, Date.now(), { reason: 'new disk', by: 'ann' });
    const memA = memoryLogger();
    let a: Running | undefined = await startControlPlane(cfg('cp-a'), memA.log);
    const memB = memoryLogger();
    const b = await startControlPlane(cfg('cp-b'), memB.log);
    try {
      const client = await connect({ servers: nats.url });
      conns.push(client);
      const e = { ts: new Date().toISOString(), node: 'pi', type: 'containers_not_running', agent: 'a1', seq: 1, service: 'web' };
      await waitFor(() => client.jetstream().publish(eventSubject('pi'), JSON.stringify(e), { msgID: eventMsgId(e) }).catch(() => undefined), { what: 'the event acknowledged' });
      // The action's own message (a failure is said in a message of its own besides).
      const about = () => api.chat(TEST_BOT.chat).filter((m) => m.text.startsWith('🔧') && /Restart web on pi/.test(m.text));
      const msg = await waitFor(() => about().find((m) => m.reply_markup), { what: 'the pending action in the chat, with its buttons', timeoutMs: 20_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}; chat: ${JSON.stringify(api.chat(TEST_BOT.chat).map((m) => m.text.slice(0, 200)))}; calls: ${api.calls.map((c) => c.method).join(',')}; pending: ${JSON.stringify(await a!.actions.query())}; log ${memA.lines.filter((l) => (l.level as number) >= 40).map((l) => JSON.stringify(l).slice(0, 400)).join(' | ')}`);
      });
      const sentText = msg.text;
      await waitFor(() => api.chat(TEST_BOT.chat).find((m) => m.text.startsWith('🛠 Maintenance: <b>nas</b>')), { what: 'the maintenance notice in the chat', timeoutMs: 20_000 });
      // While one leads, the other never polls: Telegram would answer one of them 409.
      expect(api.pollOverlaps).toBe(0);
      // The leader hands over (a clean stop gives the lease back); the standby's Telegram starts.
      await a.stop();
      a = undefined;
      await waitFor(async () => ((await (await fetch(`${b.address}/healthz`)).json()) as { nats: { role: string } }).nats.role === 'leader', { what: 'the standby to lead', timeoutMs: 10_000 });
      const polls = api.callsOf('getUpdates').length;
      await waitFor(() => api.callsOf('getUpdates').length > polls, { what: 'the new leader polling' });
      api.press(msg.message_id, api.button(msg.message_id, /Approve/), TEST_BOT.admin);
      // Approved through the old message's button, run by the new leader (no engine: it fails), and
      // the same message says so: no second message about it.
      await waitFor(async () => ['completed', 'failed'].includes((await b.actions.get('container-restart-pi-web'))?.state ?? ''), { what: 'the action run by the new leader', timeoutMs: 20_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}; action ${JSON.stringify(await b.actions.get('container-restart-pi-web'))}; calls ${api.calls.slice(-30).map((c) => c.method).join(',')}; B log ${memB.lines.filter((l) => (l.level as number) >= 30).map((l) => JSON.stringify(l).slice(0, 300)).join(' | ')}`);
      });
      await waitFor(() => api.messages.get(msg.message_id)!.text !== sentText, { what: 'the same message edited by the new leader', timeoutMs: 20_000 }).catch(async (err: Error) => {
        throw new Error(`${err.message}; chat ${JSON.stringify(api.chat(TEST_BOT.chat).map((m) => [m.message_id, m.edits, m.text.slice(0, 150)]))}; calls ${api.calls.slice(-30).map((c) => c.method).join(',')}; B log ${memB.lines.filter((l) => (l.level as number) >= 30 && /telegram|outbox|notif/.test(JSON.stringify(l))).map((l) => JSON.stringify(l).slice(0, 300)).join(' | ')}`);
      });
      expect(about()).toHaveLength(1);
      // The maintenance notice the old leader opened is the new leader's too: not opened again.
      const maintenance = () => api.chat(TEST_BOT.chat).filter((m) => m.text.startsWith('🛠 Maintenance: <b>nas</b>'));
      expect(maintenance()).toHaveLength(1);
      await b.loops.supervisor.runNow();
      expect(memB.lines.filter((l) => /notice opened: maintenance-nas/.test(String(l.msg)))).toEqual([]);
      expect(maintenance()).toHaveLength(1);
      expect(api.unexpectedRefusals()).toEqual([]);
    } finally {
      await a?.stop();
      await b.stop();
      await api.close();
    }
  });
});
