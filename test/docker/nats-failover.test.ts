// Failover on a real Docker Engine and a real nats-server (docs/design/leader.md): two
// `control-plane run` processes on one NATS, 20 real containers stopped → 20 actions, approved from
// the CLI (another process, over NATS); half way the leader is killed with SIGKILL, the standby
// leads, and every container is started exactly once — counted from the engine's own event stream
// — with every action completed. The test plays the node agent: it publishes what the engine did.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type Docker from 'dockerode';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import { eventMsgId, eventSubject } from '../../src/nats/events.js';
import { startRunChild, type RunChild } from '../support/child.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled, TEST_LABEL } from '../support/docker.js';
import { cliPath, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';
import { natsMissing, openKvStore, startNats, type TestNats } from '../support/nats.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe) && natsMissing() === undefined;
const runId = randomBytes(4).toString('hex');
const NODES = 4;
const PER_NODE = 5;

describe.skipIf(!run)('failover with real containers', () => {
  let docker: Docker;
  let root: string;
  let nats: TestNats;
  let client: NatsConnection;
  const children: RunChild[] = [];
  let seq = 0;

  beforeAll(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-failover-');
    nats = await startNats(root);
    client = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await removeLabelled(docker, runId);
    await client?.close();
    await nats?.stop();
    await removeDir(root);
  });

  /** An event as the node's agent would publish it. */
  const publish = async (node: string, type: string, service?: string) => {
    const e = { ts: new Date().toISOString(), node, type, agent: 'test', seq: ++seq, ...(service ? { service } : {}) };
    await waitFor(() => client.jetstream().publish(eventSubject(node), JSON.stringify(e), { msgID: eventMsgId(e) }).catch(() => undefined), { what: `event ${e.seq} acknowledged` });
  };

  it('the leader SIGKILLed half way: the standby leads, every container started exactly once, every action completed', async () => {
    const name = (n: number, s: number) => `hcp-${runId}-n${n}s${s}`;
    const hosts = path.join(root, 'hosts');
    const files: Record<string, string> = {};
    for (let n = 0; n < NODES; n++) {
      files[`fo${n}`] = `docker:\n  socket: /var/run/docker.sock\nservices:\n${Array.from({ length: PER_NODE }, (_, s) => `  s${s}:\n    containers: [${name(n, s)}]`).join('\n')}\n`;
    }
    await writeHosts(hosts, files);
    const containers: Docker.Container[] = [];
    for (let n = 0; n < NODES; n++) for (let s = 0; s < PER_NODE; s++) containers.push(await makeTestContainer(docker, runId, name(n, s)));
    await Promise.all(containers.map((c) => c.stop({ t: 0 })));

    // From now on every start of a container of this run is counted, from the engine.
    const starts = new Map<string, number>();
    const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['start'], label: [`${TEST_LABEL}=${runId}`] } })) as NodeJS.ReadableStream;
    let buffered = '';
    stream.on('data', (d: Buffer) => {
      buffered += d.toString('utf8');
      for (let i = buffered.indexOf('\n'); i !== -1; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        const container = (JSON.parse(line) as { Actor: { Attributes: { name: string } } }).Actor.Attributes.name;
        starts.set(container, (starts.get(container) ?? 0) + 1);
        const m = /-n(\d+)s(\d+)$/.exec(container);
        // What the agent would say next: the service runs again.
        if (m) void publish(`fo${m[1]}`, 'service_healthy', `s${m[2]}`);
      }
    });

    const env = (id: string) => ({ PATH: process.env.PATH ?? '', PORT: '0', HOMELAB_ROOT: path.join(root, id), HOSTS_DIR: hosts, NATS_URL: nats.url, CONTROL_PLANE_ID: id, LEASE_TTL_S: '3', RECONCILE_INTERVAL_S: '2' });
    const a = startRunChild(env('cp-a'));
    children.push(a);
    const aUrl = await a.ready(30_000);
    const b = startRunChild(env('cp-b'));
    children.push(b);
    const bUrl = await b.ready(30_000);
    const role = async (url: string) => ((await (await fetch(`${url}/healthz`)).json()) as { nats: { role: string; epoch: number } }).nats;
    expect((await role(aUrl)).role).toBe('leader');
    expect((await role(bUrl)).role).toBe('standby');

    for (let n = 0; n < NODES; n++) for (let s = 0; s < PER_NODE; s++) await publish(`fo${n}`, 'containers_not_running', `s${s}`);
    const kv = await openKvStore(nats.url);
    try {
      await waitFor(async () => (await kv.store.list('pending')).length === NODES * PER_NODE, { what: '20 pending actions', timeoutMs: 60_000 });
      const pending = await kv.store.list('pending');
      const approve = (id: string) => {
        const r = spawnSync(process.execPath, [cliPath, 'actions', 'approve', id, '--yes', '--by', 'ann'], { env: env('cli'), encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
      };
      const finished = async (ids: string[]) =>
        waitFor(async () => {
          const all = await Promise.all(ids.map((id) => kv.store.get(id)));
          return all.every((x) => x && x.state !== 'pending' && x.state !== 'approved' && x.state !== 'running') ? (all as Action[]) : undefined;
        }, { what: `${ids.length} actions finished`, timeoutMs: 90_000 });
      const first = pending.slice(0, 10).map((x) => x.id);
      const second = pending.slice(10).map((x) => x.id);
      for (const id of first) approve(id);
      const firstDone = await finished(first);
      a.proc.kill('SIGKILL');
      for (const id of second) approve(id);
      await waitFor(async () => (await role(bUrl)).role === 'leader', { what: 'the standby to lead', timeoutMs: 30_000 });
      const secondDone = await finished(second);

      for (const x of [...firstDone, ...secondDone]) {
        expect(x.state, `${x.id}: ${x.error ?? ''}`).toBe('completed');
        expect(x.history.filter((h) => h.state === 'running'), x.id).toHaveLength(1);
      }
      const epochA = firstDone[0]!.epoch!;
      expect(firstDone.every((x) => x.epoch === epochA)).toBe(true);
      expect(secondDone.every((x) => x.epoch! > epochA)).toBe(true);
      // Exactly once each, by the engine's own count (a moment for the last events to arrive).
      await waitFor(() => starts.size === NODES * PER_NODE, { what: 'a start of every container', timeoutMs: 30_000 });
      for (let n = 0; n < NODES; n++) for (let s = 0; s < PER_NODE; s++) expect(starts.get(name(n, s)), name(n, s)).toBe(1);
      for (const c of containers) expect((await c.inspect()).State.Running).toBe(true);
    } finally {
      (stream as unknown as { destroy(): void }).destroy();
      await kv.close();
    }
  }, 300_000);
});
