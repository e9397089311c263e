import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActionStore } from '../../src/store/actions.js';
import { UpdatesStore } from '../../src/store/updates.js';
import { ensureLayout, layout } from '../../src/store/paths.js';
import { startRunChild } from '../support/child.js';
import { appendEvents, cliPath, removeDir, repoRoot, tempDir, writeHosts } from '../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-cli-');
});
afterEach(async () => {
  await removeDir(dir);
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOMELAB_ROOT: path.join(dir, 'homelab'), HOSTS_DIR: path.join(dir, 'hosts'), ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('control-plane check', () => {
  it('accepts the example hosts/ shipped with the product', () => {
    const r = cli(['check', '--hosts', path.join(repoRoot, 'hosts')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok: 3 node\(s\), 5 service\(s\)/);
  });

  it.each([
    ['syntax error', 'services:\n  zigbee2mqtt: {\n  mosquitto: {}\n', /services\.yaml:2:16: YAML: Flow map/],
    ['a tab on line 3', 'services:\n  a: {}\n\tb: {}\n', /services\.yaml:3:1: YAML: Tabs are not allowed as indentation/],
    ['an unclosed [ on line 4', 'services:\n  a: {}\n  b:\n    containers: [x, y\n  c: {}\n', /services\.yaml:4:17: YAML: Flow sequence .* end with a \]/],
    ['wrong type', 'services:\n  zigbee2mqtt:\n    containers: zigbee2mqtt\n', /services\.yaml:3: services\.zigbee2mqtt\.containers: /],
    ['wrong type of monitor', 'services:\n  mosquitto: {}\n  zigbee2mqtt:\n    monitor: "no"\n', /services\.yaml:4: services\.zigbee2mqtt\.monitor: /],
    ['unknown key', 'services:\n  zigbee2mqtt:\n    containers: [z2m]\n    restart: always\n', /services\.yaml:4: unknown key services\.zigbee2mqtt\.restart/],
    ['unknown top-level key', 'servces:\n  zigbee2mqtt: {}\n', /services\.yaml:1: unknown key servces/],
    ['empty file', '', /services\.yaml:1: file is empty/],
    ['duplicate key', 'services:\n  a: {}\n  a: {}\n', /services\.yaml:3: YAML: .*[Uu]nique/],
    ['bad service name', 'services:\n  "bad/name": {}\n', /services\.yaml:2: services\.bad\/name: service name must match/],
    ['socket and url', 'docker:\n  socket: /x\n  url: tcp://h:2375\nservices: {}\n', /services\.yaml:2: docker: set either socket or url/],
    ['a list instead of a map', '- a\n- b\n', /services\.yaml:1: top level must be a map/],
    ['a depends_on cycle', 'services:\n  vpn:\n    depends_on: [app]\n  app:\n    depends_on: [vpn]\n', /services\.yaml:5:18: services\.app\.depends_on: depends_on makes a cycle: app → vpn → app/],
  ])('reports %s with file:line: reason and exits 1', async (_name, text, re) => {
    await writeHosts(path.join(dir, 'hosts'), { good: 'services:\n  a: {}\n', bad: text });
    const r = cli(['check']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(re);
    expect(r.out).toContain(path.join('hosts', 'bad', 'services.yaml'));
    expect(r.out).not.toContain(path.join('hosts', 'good'));
  });

  it('lists the dependencies services.yaml declares, with where they came from', async () => {
    await writeHosts(path.join(dir, 'hosts'), { nas: 'services:\n  vpn: {}\n  a1:\n    depends_on: [vpn]\n' });
    const r = cli(['check']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('  depends: nas: a1 → vpn (services.yaml)\n');
    expect(JSON.parse(cli(['check', '-o', 'json']).out).dependencies).toEqual([{ node: 'nas', service: 'a1', on: 'vpn', source: 'services.yaml' }]);
  });

  it('--help explains the command', () => {
    const r = cli(['check', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: control-plane check/);
  });
});

describe('configuration errors stop the start with one line and exit 2', () => {
  it.each([
    [{ NODE_ALIAS_MAP: '{oops' }, /^control-plane: configuration error: NODE_ALIAS_MAP: is not valid JSON.*\n$/],
    [{ PORT: 'abc' }, /^control-plane: configuration error: PORT: must be a whole number.*\n$/],
  ])('%o', (env, re) => {
    const r = cli(['run'], env as Record<string, string>);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re);
  });

  it('an unknown command or option is a usage error; no command at all too', () => {
    expect(cli(['frobnicate']).code).toBe(2);
    const none = cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/^control-plane: a command is needed\n\ncontrol-plane — keeps/);
    expect(cli(['help']).code).toBe(0);
    expect(cli(['actions', 'list', '--help']).out).toMatch(/newest change\nfirst, as an aligned table/);
    // Unknown options, commands and bad values say what is wrong, with a guess where there is one.
    const stat = cli(['actions', 'list', '--stat', 'completed']);
    expect(stat.code).toBe(2);
    expect(stat.err).toMatch(/^control-plane: unknown option --stat \(did you mean --state\?\)\n\nUsage: control-plane actions list/);
    expect(stat.err).not.toMatch(/positional argument/);
    expect(cli(['actions', 'list', '--state']).err).toMatch(/^control-plane: --state needs a value/);
    expect(cli(['actoins']).err).toMatch(/^control-plane: unknown command "actoins" \(did you mean actions\?\)/);
    const lines = cli(['logs', 'n1/web', '--lines', '500']);
    expect(lines.code).toBe(2);
    expect(lines.err).toMatch(/^control-plane: --lines must be a whole number from 1 to 200, not "500"/);
    expect(cli(['logs', 'web']).err).toMatch(/^control-plane: "web" is not <node>\/<service>/);
    const hosts = cli(['check', '--hosts', '/nonexistent-hcp']);
    expect(hosts.code).toBe(2);
    expect(hosts.err).toMatch(/^control-plane: --hosts \/nonexistent-hcp: no such directory/);
    expect(cli(['check', '--nope']).code).toBe(2);
  });
});

describe('control-plane replay', () => {
  it('rebuilds world from events and prints counts', async () => {
    await writeHosts(path.join(dir, 'hosts'), { 'chelsty-infra': 'services:\n  zigbee2mqtt: {}\n' });
    const ts = new Date().toISOString();
    await appendEvents(path.join(dir, 'homelab'), [
      { ts, node: 'chelsty-infra', type: 'containers_not_running', service: 'zigbee2mqtt' },
      { ts, node: 'chelsty-infra', type: 'service_healthy', service: 'mosquitto' },
    ]);
    const r = cli(['replay']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^replayed: 2 events applied, 0 malformed lines skipped, 1 nodes, 2 services \(1 unhealthy\) in [\d.]+ s\n$/);
    const world = JSON.parse(await readFile(path.join(dir, 'homelab', 'world', 'services.json'), 'utf8'));
    expect(world['chelsty-infra/zigbee2mqtt'].status).toBe('unhealthy');
    // Again: replay ignores the checkpoint and reads everything once more.
    expect(cli(['replay']).out).toMatch(/^replayed: 2 events applied/);
    expect(cli(['observe', '--once']).out).toMatch(/^observed: 0 events applied/);
  });
});

describe('control-plane agent and mirror', () => {
  it('agent --once writes a heartbeat to the events directory', async () => {
    await writeHosts(path.join(dir, 'hosts'), { n9: 'services: {}\n' });
    const r = cli(['agent', '--node', 'n9', '--once', '--disk-paths', '/']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^agent n9: 2 event\(s\) written/);
    const day = new Date().toISOString().slice(0, 10);
    const lines = (await readFile(path.join(dir, 'homelab', 'events', day, 'n9.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((e) => e.type).sort()).toEqual(['disk_pressure', 'node_heartbeat']);
  });
  it('refuses bad options with a usage error', () => {
    expect(cli(['agent']).code).toBe(2);
    const noToken = cli(['agent', '--node', 'n9', '--push', 'http://127.0.0.1:1/ingest/events']);
    expect(noToken.code).toBe(2);
    expect(noToken.err).toMatch(/configuration error: AGENT_TOKEN \(--token\): is required with AGENT_PUSH_URL/);
    expect(cli(['mirror', '--from', 'nope', '--to', 'x']).code).toBe(2);
    expect(cli(['agent', '--help']).out).toMatch(/AGENT_DISK_PATHS/);
  });
  it('mirror --once against a source that is down exits 1 and says why', () => {
    const r = cli(['mirror', '--from', 'http://127.0.0.1:39999', '--to', path.join(dir, 'm'), '--once']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/services.json: failed \(.*ECONNREFUSED\)/);
  });
});

describe('control-plane run: a start either fully succeeds or exits 2 naming the setting', () => {
  it.each([
    ['DIGEST_CRON', 'every day', /^control-plane: configuration error: DIGEST_CRON: is not a cron expression of 5 or 6 fields/],
    ['HOSTS_DIR', '/nonexistent', /^control-plane: configuration error: HOSTS_DIR: no such directory "\/nonexistent"/],
    ['HOMELAB_ROOT', '/etc/passwd', /^control-plane: configuration error: HOMELAB_ROOT: "\/etc\/passwd" is a file, not a directory/],
    ['HOMELAB_ROOT', '/etc/passwd/x', /^control-plane: configuration error: HOMELAB_ROOT: "\/etc\/passwd" is a file, not a directory/],
    ['HOMELAB_ROOT', '/proc/nonexistent/x', /^control-plane: configuration error: HOMELAB_ROOT: cannot create "\/proc\/nonexistent\/x" \(ENOENT/],
    ['HOST', '192.0.2.1', /^control-plane: configuration error: HOST: cannot listen on 192\.0\.2\.1:0: .*EADDRNOTAVAIL/],
  ])('%s=%s', async (name, value, re) => {
    await writeHosts(path.join(dir, 'hosts'), { n1: 'services:\n  a: {}\n' });
    // Telegram off: DIGEST_CRON is checked all the same.
    const r = cli(['run'], { PORT: '0', [name]: value });
    expect(r.code, r.out + r.err).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
  });

  it('a port in use is a PORT error, and nothing is left running or locked', async () => {
    await writeHosts(path.join(dir, 'hosts'), { n1: 'services:\n  a: {}\n' });
    const net = await import('node:net');
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = String((busy.address() as { port: number }).port);
    const r = cli(['run'], { PORT: port });
    busy.close();
    expect(r.code).toBe(2);
    expect(r.err.trim()).toMatch(new RegExp(`^control-plane: configuration error: PORT: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*set PORT\\)$`));
    const { existsSync } = await import('node:fs');
    expect(existsSync(path.join(dir, 'homelab', 'state', 'control-plane.pid'))).toBe(false);
    // Found before anything slow: no replay, no data directory laid out.
    expect(r.out).not.toMatch(/observer checkpoint|replaying/);
    // On Node 20 the start says it is past its end of life; on 24 it says nothing of the kind.
    if (process.versions.node.startsWith('20.')) expect(r.out).toMatch(/Node 20\.\d+\.\d+ reached its end of life on 2026-04-30 .*Node 24 LTS/);
    else expect(r.out).not.toMatch(/end of life/);
    expect(existsSync(path.join(dir, 'homelab', 'world'))).toBe(false);
  });
});

describe('the CLI as kubectl and amtool users expect it', () => {
  async function withData(): Promise<ActionStore> {
    const l = layout(path.join(dir, 'homelab'));
    await ensureLayout(l);
    await writeHosts(path.join(dir, 'hosts'), { n1: 'services:\n  app: {}\n  web: {}\n', n2: 'services:\n  db: {}\n' });
    const store = new ActionStore(l.actions);
    for (const [id, type, risk, service] of [
      ['redeploy-n1-app', 'redeploy', 'guarded', 'app'],
      ['container-restart-n1-web', 'container_restart', 'low', 'web'],
    ] as const) {
      await store.create({ id, instance: '20260527T140000Z', type, risk, node: 'n1', service, drift: 'unhealthy_service', trigger: 'healthcheck_failed', containers: [service], drift_since: null });
    }
    await store.transition({ id: 'container-restart-n1-web', from: 'pending', to: 'rejected', by: 'test' });
    return store;
  }

  it('--version, and per-subcommand --help', () => {
    expect(cli(['--version']).out).toMatch(/^control-plane \d+\.\d+\.\d+\n$/);
    const h = cli(['actions', 'list', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^Usage: control-plane actions list \[--state S\[,S…\]\] \[-o table\|json\]/);
    expect(cli(['actions', 'approve', '--help']).out).toMatch(/asks for confirmation on a terminal; --yes/);
  });

  it('actions list: aligned columns with a header, comma lists of states, -o json', async () => {
    await withData();
    const r = cli(['actions', 'list', '--state', 'pending,rejected']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^STATE\s+ID\s+TYPE\s+RISK\s+TARGET\s+TRIGGER\s+VERIFIED\s+UPDATED\s+DETAIL$/);
    expect(lines).toHaveLength(3);
    // Newest first (the rejection is the latest change); every column starts at the same place.
    expect(lines[1]).toMatch(/^rejected\s+container-restart-n1-web\s/);
    expect(lines[2]).toMatch(/^pending\s+redeploy-n1-app\s/);
    const col = (line: string, word: string) => line.indexOf(word);
    expect(col(lines[2]!, 'redeploy-n1-app')).toBe(col(lines[0]!, 'ID'));
    expect(col(lines[1]!, 'container-restart-n1-web')).toBe(col(lines[0]!, 'ID'));
    expect(col(lines[1]!, 'n1/web')).toBe(col(lines[0]!, 'TARGET'));
    const json = JSON.parse(cli(['actions', 'list', '--state', 'pending,rejected', '-o', 'json']).out);
    expect(json.map((a: { id: string }) => a.id).sort()).toEqual(['container-restart-n1-web', 'redeploy-n1-app']);
    expect(JSON.parse(cli(['actions', 'show', 'redeploy-n1-app', '-o', 'json']).out).id).toBe('redeploy-n1-app');
    expect(cli(['actions', 'list', '--state', 'pending,bogus']).code).toBe(2);
    expect(cli(['actions', 'list', '-o', 'yaml']).code).toBe(2);
    // A completed action says whether the service reported healthy afterwards.
    const store = new ActionStore(layout(path.join(dir, 'homelab')).actions);
    await store.transition({ id: 'redeploy-n1-app', from: 'pending', to: 'approved', by: 'test' });
    await store.transition({ id: 'redeploy-n1-app', from: 'approved', to: 'running', by: 'test' });
    const done = await store.transition({ id: 'redeploy-n1-app', from: 'running', to: 'completed', by: 'test' });
    const row = () => cli(['actions', 'list', '--state', 'completed']).out.trimEnd().split('\n');
    expect(row()[1]).toMatch(/^completed\s+redeploy-n1-app\s+redeploy\s+guarded\s+n1\/app\s+healthcheck_failed\s+waiting\s/);
    await store.annotate('completed', done, { verified: true, verification: { verified: true, after_s: 3 } });
    expect(row()[1]).toMatch(/\s+yes\s/);
  });

  it('run from another directory: says which HOMELAB_ROOT it used and never creates it', async () => {
    const elsewhere = path.join(dir, 'elsewhere');
    await mkdir(elsewhere);
    const r = spawnSync(process.execPath, [cliPath, 'actions', 'list'], { cwd: elsewhere, env: { PATH: process.env.PATH }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`HOMELAB_ROOT is not set; using ${path.join(elsewhere, 'var', 'homelab')}`);
    expect(r.stderr).toMatch(/configuration error: HOMELAB_ROOT: no control plane data in .* set HOMELAB_ROOT/);
    expect(existsSync(path.join(elsewhere, 'var'))).toBe(false);
    const s = spawnSync(process.execPath, [cliPath, 'silence', 'list'], { cwd: elsewhere, env: { PATH: process.env.PATH }, encoding: 'utf8' });
    expect(s.status).toBe(2);
    expect(existsSync(path.join(elsewhere, 'var'))).toBe(false);
  });

  it('refuses unknown nodes and services, naming what exists; merges duplicate silences', async () => {
    await withData();
    const held = cli(['actions', 'confirm-removal', 'nosuch']);
    expect(held.code).toBe(1);
    expect(held.err).toMatch(/nothing is held for "nosuch" \(held now: none\)/);
    const bad = cli(['silence', 'add', 'n1/nosuch', '1h']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/no service "nosuch" in hosts\/n1\/services\.yaml \(services: app, web\)/);
    expect(cli(['silence', 'add', 'gamma', '1h']).err).toMatch(/no node "gamma" in hosts\/ \(nodes: n1, n2\)/);
    expect(cli(['silence', 'add', 'n1/app', '1h']).out).toMatch(/^silenced n1\/app until/);
    expect(cli(['silence', 'add', 'n1/app', '2h', '--reason', 'longer']).out).toMatch(/^extended the silence of n1\/app until/);
    expect(cli(['silence', 'add', 'n1/app', '30m']).out).toMatch(/^extended the silence of n1\/app/);
    const list = JSON.parse(cli(['silence', 'list', '-o', 'json']).out);
    expect(list).toHaveLength(1);
    expect(Date.parse(list[0].until) - Date.now()).toBeGreaterThan(110 * 60_000); // never shortened
    expect(list[0].reason).toBe('longer');
  });

  it('approving a guarded action asks on a terminal; --yes does not ask', async () => {
    await withData();
    const env = `HOMELAB_ROOT=${path.join(dir, 'homelab')} HOSTS_DIR=${path.join(dir, 'hosts')}`;
    // `script` gives the command a terminal; "n" answers the question.
    const no = spawnSync('script', ['-qec', `env ${env} ${process.execPath} ${cliPath} actions approve redeploy-n1-app`, '/dev/null'], { input: 'n\n', encoding: 'utf8' });
    expect(no.stdout).toMatch(/Approve redeploy-n1-app: recreate the containers of app on n1 .*\? \[y\/N\]/);
    expect(no.stdout).toMatch(/not approved/);
    expect(no.status).toBe(1);
    expect(cli(['actions', 'show', 'redeploy-n1-app']).out).toMatch(/^STATE[\s\S]*\npending\s/);
    const yes = spawnSync('script', ['-qec', `env ${env} ${process.execPath} ${cliPath} actions approve redeploy-n1-app --yes`, '/dev/null'], { encoding: 'utf8' });
    expect(yes.stdout).not.toMatch(/\[y\/N\]/);
    expect(yes.stdout).toMatch(/approved redeploy-n1-app/);
  });

  it('check: -o json, services.yml reported, an empty hosts directory is a warning', async () => {
    await mkdir(path.join(dir, 'hosts'));
    const empty = cli(['check']);
    expect(empty.code).toBe(0);
    expect(empty.err).toMatch(/warning: no node in /);
    await mkdir(path.join(dir, 'hosts', 'n3'));
    await writeFile(path.join(dir, 'hosts', 'n3', 'services.yml'), 'services:\n  a: {}\n');
    const yml = cli(['check']);
    expect(yml.code).toBe(1);
    expect(yml.out).toMatch(/hosts\/n3\/services\.yml:0: found services\.yml, but the file must be named services\.yaml/);
    const json = JSON.parse(cli(['check', '-o', 'json']).out);
    expect(json).toMatchObject({ ok: false, nodes: 0, problems: [expect.objectContaining({ reason: expect.stringMatching(/services\.yaml/) })] });
  });

  it('replay beside a running control plane: stop it first, and no advice to delete the checkpoint', async () => {
    await writeHosts(path.join(dir, 'hosts'), { n1: 'services:\n  app: {}\n' });
    const child = startRunChild({ PATH: process.env.PATH, HOMELAB_ROOT: path.join(dir, 'homelab'), HOSTS_DIR: path.join(dir, 'hosts'), PORT: '0' });
    try {
      await child.ready();
      const r = cli(['replay']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/'control-plane run' \(pid \d+\) is using .*stop it first, run this again, then start it/);
      expect(r.err).not.toMatch(/delete|checkpoint/);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
  });
});

describe('control-plane updates', () => {
  it('list and skip read and write the update files; bad targets are usage errors; nothing to check is said', async () => {
    await writeHosts(path.join(dir, 'hosts'), { n1: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  s1:\n    updates: approve\n  s2: {}\n' });
    expect(cli(['updates', 'list'])).toMatchObject({ code: 2, err: expect.stringMatching(/HOMELAB_ROOT: no control plane data/) });
    const l = layout(path.join(dir, 'homelab'));
    await ensureLayout(l);
    expect(cli(['updates', 'list']).out).toMatch(/no update checks yet/);
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    await new UpdatesStore(l).save([{ node: 'n1', service: 's1', checked_at: '2026-05-27T15:00:00.000Z', images: [{ image: 'nginx:1.27', containers: ['s1'], local_digest: d1, remote_digest: d2, status: 'image_update_available', version: '1.27.5' }] }]);
    const list = cli(['updates', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^SERVICE\s+IMAGE\s+STATUS\s+LOCAL\s+REMOTE\s+NOTE\n/);
    expect(list.out).toMatch(/n1\/s1\s+nginx:1\.27\s+image_update_available\s+111111111111\s+222222222222\s+version 1\.27\.5/);
    expect(JSON.parse(cli(['updates', 'list', '-o', 'json']).out)[0]).toMatchObject({ node: 'n1', service: 's1' });

    const skip = cli(['updates', 'skip', 'n1/s1', '--by', 'oskar']);
    expect(skip.code, skip.err).toBe(0);
    expect(skip.out).toMatch(/skipped for n1\/s1: nginx:1\.27 222222222222/);
    expect(JSON.parse(await readFile(path.join(l.state, 'update-skips.json'), 'utf8'))['n1/s1']).toEqual([expect.objectContaining({ digest: d2, reason: 'skipped', by: 'oskar' })]);
    expect(cli(['updates', 'list']).out).toMatch(/image_update_available \(skipped\)/);

    expect(cli(['updates', 'skip', 'n1/s2'])).toMatchObject({ code: 1, err: expect.stringMatching(/nothing to skip/) });
    expect(cli(['updates', 'skip', 'n1'])).toMatchObject({ code: 2 });
    expect(cli(['updates', 'check', 'n9/x'])).toMatchObject({ code: 2, err: expect.stringMatching(/no node "n9"/) });
    expect(cli(['updates', 'frobnicate'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown updates command/) });
    await writeHosts(path.join(dir, 'hosts'), { n1: 'services:\n  s1: {}\n' });
    expect(cli(['updates', 'check'])).toMatchObject({ code: 0, err: expect.stringMatching(/nothing to check/) });
  });
});

describe('control-plane hosts trust', () => {
  it('usage: a node that is not there, one not reached over SSH, an SSH server that is not there', async () => {
    await writeHosts(path.join(dir, 'hosts'), { local: 'services:\n  a: {}\n', far: 'docker:\n  url: ssh://root@127.0.0.1:1\nservices:\n  a: {}\n' });
    expect(cli(['hosts'])).toMatchObject({ code: 0, out: expect.stringMatching(/^Usage: control-plane hosts trust <node> \[--yes\]/) });
    expect(cli(['hosts', 'trust'])).toMatchObject({ code: 2 });
    expect(cli(['hosts', 'forget', 'far'])).toMatchObject({ code: 2, err: expect.stringMatching(/unknown hosts command "forget"/) });
    expect(cli(['hosts', 'trust', 'nope'])).toMatchObject({ code: 2, err: expect.stringMatching(/no node "nope" in .* \(nodes: far, local\)/) });
    expect(cli(['hosts', 'trust', 'local'])).toMatchObject({ code: 2, err: expect.stringMatching(/local is not reached over SSH .*only ssh:\/\/ targets have host keys/) });
    const down = cli(['hosts', 'trust', 'far', '--yes']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/ECONNREFUSED/);
    expect(existsSync(path.join(dir, 'homelab', 'ssh', 'known_hosts'))).toBe(false);
  });
});
