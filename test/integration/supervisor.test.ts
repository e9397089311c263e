import { spawnSync } from 'node:child_process';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Running } from '../../src/main.js';
import { ActionStore } from '../../src/store/actions.js';
import { UpdatesStore } from '../../src/store/updates.js';
import type { Layout } from '../../src/store/paths.js';
import { controlPlaneFixture, type ControlPlaneFixture } from '../support/control-plane.js';
import { appendEvents, cliPath, waitFor, writeHosts, type Ev } from '../support/helpers.js';

const ID = 'container-restart-chelsty-infra-zigbee2mqtt';
const HOSTS = 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  zigbee2mqtt:\n    containers: [zigbee2mqtt]\n  mosquitto: {}\n';

let root: string;
let hosts: string;
let l: Layout;
let running: Running | undefined;

let f: ControlPlaneFixture;

beforeEach(async () => {
  f = await controlPlaneFixture('hcp-sup-', { 'chelsty-infra': HOSTS });
  ({ root, hosts, l } = f);
});
afterEach(async () => {
  running = undefined;
  await f.cleanup();
});

async function start() {
  running = await f.start();
  return f.mem;
}

const now = () => new Date().toISOString();
const ev = (type: string, service?: string): Ev => ({ ts: now(), node: 'chelsty-infra', type, ...(service ? { service } : {}) });
const files = async (state: string) => (await readdir(l.actionDir(state as never))).filter((n) => !n.startsWith('.')).sort();
const readAction = async (state: string, name: string) => JSON.parse(await readFile(path.join(l.actionDir(state as never), name), 'utf8'));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { env: { PATH: process.env.PATH, HOMELAB_ROOT: l.root, HOSTS_DIR: hosts }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function drift() {
  await appendEvents(l.root, [ev('node_heartbeat'), ev('service_healthy', 'mosquitto'), ev('containers_not_running', 'zigbee2mqtt')]);
  return waitFor(async () => (await files('pending')).includes(`${ID}.json`), { what: 'pending action' });
}

describe('supervisor on real files', () => {
  it('drift → a pending file with the exact id and fields; healthy again → cancelled with drift_resolved_auto', async () => {
    await start();
    await drift();
    const a = await readAction('pending', `${ID}.json`);
    expect(a).toMatchObject({
      id: ID,
      type: 'container_restart',
      risk: 'low',
      node: 'chelsty-infra',
      service: 'zigbee2mqtt',
      drift: 'unhealthy_service',
      trigger: 'containers_not_running',
      state: 'pending',
      history: [{ state: 'pending', by: 'supervisor' }],
    });
    expect(a.instance).toMatch(/^\d{8}T\d{6}Z$/);
    expect(await files('pending')).toEqual([`${ID}.json`]);

    await appendEvents(l.root, [ev('service_healthy', 'zigbee2mqtt')]);
    const name = `${ID}@${a.instance}.json`;
    await waitFor(async () => (await files('cancelled')).includes(name), { what: 'cancelled file' });
    expect(await readAction('cancelled', name)).toMatchObject({ state: 'cancelled', cancel_reason: 'drift_resolved_auto', instance: a.instance });
    expect(await files('pending')).toEqual([]);
  });

  it('a service removed from services.yaml → service_removed_from_desired_state', async () => {
    await start();
    await drift();
    await writeFile(path.join(hosts, 'chelsty-infra', 'services.yaml'), 'services:\n  mosquitto: {}\n');
    await waitFor(async () => (await files('cancelled')).length === 1, { what: 'cancel' });
    const [name] = await files('cancelled');
    expect(await readAction('cancelled', name!)).toMatchObject({ cancel_reason: 'service_removed_from_desired_state' });
  });

  it('a service added to services.yaml while it runs gets MISSING_GRACE_S from when it was added, not from the node\'s first event', async () => {
    const earlier = new Date(Date.now() - 300_000).toISOString();
    await appendEvents(l.root, [
      { ts: earlier, node: 'chelsty-infra', type: 'node_heartbeat' },
      { ts: earlier, node: 'chelsty-infra', type: 'service_healthy', service: 'zigbee2mqtt' },
      { ts: earlier, node: 'chelsty-infra', type: 'service_healthy', service: 'mosquitto' },
    ]);
    running = await f.start({ MISSING_GRACE_S: '120' });
    await running.loops.supervisor.runNow();
    // The first run: the services there already count as added long ago.
    expect(JSON.parse(await readFile(path.join(l.state, 'desired_since.json'), 'utf8')).since).toEqual({ 'chelsty-infra/mosquitto': '', 'chelsty-infra/zigbee2mqtt': '' });
    await writeFile(path.join(hosts, 'chelsty-infra', 'services.yaml'), `${HOSTS}  newsvc: {}\n`);
    await running.loops.desired.runNow();
    await waitFor(async () => 'chelsty-infra/newsvc' in JSON.parse(await readFile(path.join(l.state, 'desired_since.json'), 'utf8')).since, { what: 'the new service noted' });
    await running.loops.supervisor.runNow();
    // The node spoke 5 minutes ago (past the grace), but the service was added just now: no redeploy.
    expect(await files('pending')).toEqual([]);
    expect(await files('cancelled')).toEqual([]);
    const since = JSON.parse(await readFile(path.join(l.state, 'desired_since.json'), 'utf8')).since['chelsty-infra/newsvc'];
    expect(Date.now() - Date.parse(since)).toBeLessThan(60_000);
  });

  it('a missing service is proposed when its grace ends, not at the next interval (an hour here)', async () => {
    running = await f.start({ MISSING_GRACE_S: '2' });
    const first = ev('node_heartbeat');
    await appendEvents(l.root, [first, ev('service_healthy', 'mosquitto')]);
    // zigbee2mqtt never reported: its redeploy once the grace from the node's first event has
    // passed, with no event meanwhile to wake the supervisor.
    await waitFor(async () => (await files('pending')).length === 1, { what: 'the missing service proposed at the end of its grace' });
    expect(Date.now() - Date.parse(first.ts)).toBeGreaterThanOrEqual(2_000);
    expect(await readAction('pending', (await files('pending'))[0]!)).toMatchObject({ service: 'zigbee2mqtt', drift: 'missing_service' });
  });

  it('approved and running actions are never cancelled', async () => {
    await start();
    await drift();
    const store = new ActionStore(l.actions);
    await store.transition({ id: ID, from: 'pending', to: 'approved', by: 'test' });
    await appendEvents(l.root, [ev('service_healthy', 'zigbee2mqtt')]);
    await writeFile(path.join(hosts, 'chelsty-infra', 'services.yaml'), 'services:\n  mosquitto: {}\n');
    await running!.loops.desired.runNow();
    await running!.loops.supervisor.runNow();
    // The executor takes it from approved/ (and fails: no such container here); the supervisor never cancels it.
    expect(await files('cancelled')).toEqual([]);
    const all = await new ActionStore(l.actions).history(ID);
    expect(all).toHaveLength(1);
    expect(all[0]!.history.map((h) => h.state)).not.toContain('cancelled');
    expect(all[0]!.history.map((h) => h.state).slice(0, 2)).toEqual(['pending', 'approved']);
  });

  it('a restart of the process writes no duplicate', async () => {
    await start();
    await drift();
    await f.stop();
    running = undefined;
    await start();
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([`${ID}.json`]);
    expect((await readAction('pending', `${ID}.json`)).history).toHaveLength(1);
  });

  it.each([
    ['a syntax error', 'services:\n  zigbee2mqtt: [\n'],
    ['wrong types', 'services:\n  zigbee2mqtt:\n    containers: 5\n'],
    ['an empty file written mid-save', ''],
  ])('bad YAML (%s) creates and cancels nothing and raises one notice', async (_name, text) => {
    await start();
    await drift();
    const before = { pending: await files('pending'), cancelled: await files('cancelled') };
    await writeFile(path.join(hosts, 'chelsty-infra', 'services.yaml'), text);
    const notice = path.join(l.state, 'notices', 'desired-invalid-chelsty-infra.json');
    await waitFor(async () => JSON.parse(await readFile(notice, 'utf8')), { what: 'notice' });
    // Meanwhile the service recovers and something else breaks: the last good version still rules.
    await appendEvents(l.root, [ev('mqtt_unreachable', 'mosquitto')]);
    await running!.loops.observer.runNow();
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([...before.pending, 'container-restart-chelsty-infra-mosquitto.json'].sort());
    expect(await files('cancelled')).toEqual(before.cancelled);
    const notices = (await readdir(path.join(l.state, 'notices'))).filter((n) => n.startsWith('desired-invalid'));
    expect(notices).toEqual(['desired-invalid-chelsty-infra.json']);
    expect(JSON.parse(await readFile(notice, 'utf8'))).toMatchObject({ state: 'open', kind: 'desired_invalid' });
    // Fixed: the notice closes.
    await writeFile(path.join(hosts, 'chelsty-infra', 'services.yaml'), HOSTS);
    await waitFor(async () => JSON.parse(await readFile(notice, 'utf8')).state === 'closed', { what: 'notice closed' });
  });

  it('a silent node raises one notice and gets no per-service action', async () => {
    await writeHosts(hosts, { piha: 'services:\n  webui: {}\n' });
    await start();
    await running!.loops.supervisor.runNow();
    const notice = JSON.parse(await readFile(path.join(l.state, 'notices', 'node-silent-piha.json'), 'utf8'));
    expect(notice).toMatchObject({ kind: 'node_silent', node: 'piha', state: 'open' });
    expect(await files('pending')).toEqual([]);
  });
});

describe('approving and rejecting from the CLI or with mv', () => {
  it('approve, then a second approve or reject says what state it is in', async () => {
    await start();
    // Keep the approved action where it is: no executor in this test.
    await running!.loops.executor.stop();
    await drift();
    let r = cli(['actions', 'approve', ID, '--by', 'oskar']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^approved container-restart-chelsty-infra-zigbee2mqtt/);
    const a = await readAction('approved', `${ID}.json`);
    expect(a).toMatchObject({ state: 'approved', approved_by: { via: 'cli', name: 'oskar' } });
    expect(a.history.map((h: { state: string }) => h.state)).toEqual(['pending', 'approved']);
    r = cli(['actions', 'reject', ID]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is not pending any more: it is approved/);
    expect(cli(['actions', 'approve', 'no-such-action']).err).toMatch(/no action no-such-action \(control-plane actions list shows the open ones, --state all every one\)/);
    const list = cli(['actions', 'list']);
    expect(list.out).toMatch(/approved\s+container-restart-chelsty-infra-zigbee2mqtt/);
    expect(JSON.parse(cli(['actions', 'list', '--state', 'approved', '--json']).out)).toHaveLength(1);
  });

  it('reject keeps history under <id>@<instance>.json', async () => {
    await start();
    await drift();
    expect(cli(['actions', 'reject', ID, '--by', 'oskar']).code).toBe(0);
    const [name] = await files('rejected');
    expect(name).toMatch(/^container-restart-chelsty-infra-zigbee2mqtt@\d{8}T\d{6}Z\.json$/);
    expect(await readAction('rejected', name!)).toMatchObject({ rejected_by: { via: 'cli', name: 'oskar' } });
  });

  it('mv pending → approved is an approval via file', async () => {
    await start();
    await drift();
    await rename(path.join(l.actionDir('pending'), `${ID}.json`), path.join(l.actionDir('approved'), `${ID}.json`));
    // The executor takes it on at once (and fails here: no engine), so look at its history.
    const [a] = await waitFor(async () => {
      const h = await new ActionStore(l.actions).history(ID);
      return h[0]?.approved_by ? h : undefined;
    }, { what: 'adoption' });
    expect(a).toMatchObject({ approved_by: { via: 'file' } });
    expect(a!.history.map((x) => [x.state, x.by]).slice(0, 2)).toEqual([
      ['pending', 'supervisor'],
      ['approved', 'file'],
    ]);
  });

  it('silence add/list/rm suppresses proposals while it lasts', async () => {
    await start();
    expect(cli(['silence', 'add', 'chelsty-infra/zigbee2mqtt', '1h', '--reason', 'maintenance']).code).toBe(0);
    expect(cli(['silence', 'list']).out).toMatch(/chelsty-infra\/zigbee2mqtt\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+\S+\s+maintenance/);
    expect(cli(['silence', 'add', 'chelsty-infra', 'soon']).code).toBe(2);
    await appendEvents(l.root, [ev('node_heartbeat'), ev('service_healthy', 'mosquitto'), ev('containers_not_running', 'zigbee2mqtt')]);
    await running!.loops.observer.runNow();
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([]);
    // The world file follows the published world within PERSIST_MS.
    await waitFor(async () => JSON.parse(await readFile(l.worldServices, 'utf8'))['chelsty-infra/zigbee2mqtt']?.status === 'unhealthy', { what: 'zigbee2mqtt unhealthy in services.json' });
    expect(cli(['silence', 'rm', 'chelsty-infra/zigbee2mqtt']).code).toBe(0);
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([`${ID}.json`]);
  });

  it('maintenance start/list/stop: quiet while it lasts (one notice), then an end notice with what happened, and the drift proposed', async () => {
    await start();
    expect(cli(['maintenance', 'start', 'chelsty-infra', '--for', '2h', '--reason', 'moving disks', '--by', 'me']).code).toBe(0);
    expect(cli(['maintenance', 'list']).out).toMatch(/chelsty-infra\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+me\s+moving disks/);
    expect(cli(['maintenance', 'start', 'nowhere', '--for', '1h']).code).toBe(1);
    expect(cli(['maintenance', 'start', 'chelsty-infra']).code).toBe(2);
    await appendEvents(l.root, [ev('node_heartbeat'), ev('service_healthy', 'mosquitto'), ev('containers_not_running', 'zigbee2mqtt')]);
    await running!.loops.observer.runNow();
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([]);
    const notices = path.join(l.state, 'notices');
    const during = JSON.parse(await readFile(path.join(notices, 'maintenance-chelsty-infra.json'), 'utf8'));
    expect(during).toMatchObject({ kind: 'maintenance', state: 'open', message: expect.stringContaining('started by me: moving disks') });
    expect((await readdir(notices)).sort()).toEqual(['maintenance-chelsty-infra.json']);
    expect(cli(['maintenance', 'stop', 'chelsty-infra']).code).toBe(0);
    expect(cli(['maintenance', 'stop', 'chelsty-infra']).code).toBe(1);
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([`${ID}.json`]);
    const ended = JSON.parse(await readFile(path.join(notices, 'maintenance-ended-chelsty-infra.json'), 'utf8'));
    expect(ended).toMatchObject({ kind: 'maintenance_ended', state: 'closed', message: expect.stringMatching(/^Maintenance on chelsty-infra ended after \d+ min\. .*Still drifting, proposed now: zigbee2mqtt \(containers_not_running/) });
    expect(JSON.parse(await readFile(path.join(notices, 'maintenance-chelsty-infra.json'), 'utf8')).state).toBe('closed');
  });

  it('a bulk removal is held until confirm-removal', async () => {
    const many = `services:\n${['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((s) => `  ${s}: {}\n`).join('')}`;
    await writeHosts(hosts, { 'chelsty-infra': many });
    await start();
    await appendEvents(l.root, [ev('node_heartbeat'), ...['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((s) => ev('service_healthy', s)), ev('containers_not_running', 'h')]);
    await waitFor(async () => (await files('pending')).includes('container-restart-chelsty-infra-h.json'), { what: 'pending h' });
    await writeFile(path.join(hosts, 'chelsty-infra', 'services.yaml'), 'services:\n  a: {}\n  b: {}\n');
    const notice = path.join(l.state, 'notices', 'bulk-removal-chelsty-infra.json');
    await waitFor(async () => JSON.parse(await readFile(notice, 'utf8')), { what: 'bulk removal notice' });
    expect(await files('pending')).toEqual(['container-restart-chelsty-infra-h.json']);
    expect(cli(['actions', 'confirm-removal', 'chelsty-infra']).code).toBe(0);
    await running!.loops.supervisor.runNow();
    expect(await files('pending')).toEqual([]);
    expect(JSON.parse(await readFile(notice, 'utf8')).state).toBe('closed');
  });
});

describe('auto_approve', () => {
  it('approves low-risk actions by policy, never guarded ones', async () => {
    await writeHosts(hosts, { 'chelsty-infra': 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  zigbee2mqtt:\n    auto_approve: true\n  mosquitto:\n    auto_approve: true\n' });
    await start();
    await appendEvents(l.root, [ev('node_heartbeat'), ev('containers_not_running', 'zigbee2mqtt'), ev('healthcheck_failed', 'mosquitto')]);
    const store = new ActionStore(l.actions);
    const [a] = await waitFor(async () => {
      const h = await store.history(ID);
      return h[0]?.approved_by ? h : undefined;
    }, { what: 'approved by policy' });
    expect(a).toMatchObject({ approved_by: { via: 'policy', name: 'auto_approve' } });
    expect(await files('pending')).toEqual(['redeploy-chelsty-infra-mosquitto.json']);
  });
});

describe('updates: auto', () => {
  it('approves an image update by policy (guarded, no Confirm); updates: approve leaves it pending; auto_approve does not reach updates', async () => {
    await writeHosts(hosts, { 'chelsty-infra': 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  zigbee2mqtt:\n    updates: auto\n  mosquitto:\n    updates: approve\n    auto_approve: true\n' });
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    const entry = (service: string) => ({ node: 'chelsty-infra', service, checked_at: now(), images: [{ image: `x/${service}:1`, containers: [service], local_digest: d1, remote_digest: d2, status: 'image_update_available' as const }] });
    await new UpdatesStore(l).save([entry('zigbee2mqtt'), entry('mosquitto')]);
    await appendEvents(l.root, [ev('node_heartbeat'), ev('service_healthy', 'zigbee2mqtt'), ev('service_healthy', 'mosquitto')]);
    await start();
    await running!.loops.supervisor.runNow();
    const store = new ActionStore(l.actions);
    const [a] = await waitFor(async () => {
      const h = await store.history('image-update-chelsty-infra-zigbee2mqtt');
      return h[0]?.approved_by ? h : undefined;
    }, { what: 'update approved by policy' });
    expect(a).toMatchObject({ type: 'image_update', risk: 'guarded', approved_by: { via: 'policy', name: 'updates' } });
    expect(a!.history.find((h) => h.state === 'approved')).toMatchObject({ by: 'policy', note: 'updates: auto in services.yaml' });
    expect(await files('pending')).toEqual(['image-update-chelsty-infra-mosquitto.json']);
  });
});
