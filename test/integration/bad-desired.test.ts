// Broken versions of a services.yaml, as an editor, a bad merge or an attacker could leave them:
// each is reported, the last good version stays in force, and no action is created or cancelled.
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { World } from '../../src/domain/schemas.js';
import { Supervisor } from '../../src/loops/supervisor.js';
import { ActionStore } from '../../src/store/actions.js';
import { DesiredStore } from '../../src/store/desired.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';
import { memoryLogger, removeDir, tempDir, writeHosts } from '../support/helpers.js';
import { report } from '../support/soak.js';

const GOOD = `docker:
  socket: /nonexistent/docker.sock
services:
  a: {}
  b:
    containers: [b, b-db]
  c: {}
  d: {}
`;

const bomb = (levels: number) => {
  const lines = ['x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < levels; i++) lines.push(`x${i}: &x${i} [${Array(9).fill(`*x${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\nbomb: *x${levels - 1}\n`;
};

/** name → content (string or bytes). Each is broken in its own way. */
const VARIANTS: Record<string, string | Buffer> = {
  'empty (saved half-way)': '',
  'whitespace only': '   \n\n',
  'only a comment': '# services go here\n',
  'document marker only': '---\n',
  'null document': '~\n',
  'truncated mid-key': 'docker:\n  socket: /nonexistent/docker.sock\nservi',
  'unclosed flow map': 'services:\n  a: {containers: [a]\n',
  'unclosed flow sequence': 'services:\n  a:\n    containers: [a, b\n',
  'unclosed quote': 'services:\n  "a: {}\n',
  'tab indentation': 'services:\n\ta: {}\n',
  'bad indentation': 'services:\n  a: {}\n    b: {}\n',
  'map and sequence mixed': 'services:\n  a: {}\n  - b\n',
  'stray colon': 'services:\n  a: : {}\n',
  'two documents': `${GOOD}---\n${GOOD}`,
  'top level is a list': '- services\n- a\n',
  'top level is a string': 'services\n',
  'top level is a number': '42\n',
  'services is a list': 'services:\n  - a\n  - b\n',
  'services is a string': 'services: a, b, c, d\n',
  'services is null': 'services:\n',
  'services is a number': 'services: 4\n',
  'service is a string': 'services:\n  a: restart me\n  b: {}\n  c: {}\n  d: {}\n',
  'service is a list': 'services:\n  a: [a]\n  b: {}\n  c: {}\n  d: {}\n',
  'containers is a string': 'services:\n  a:\n    containers: a\n  b: {}\n  c: {}\n  d: {}\n',
  'containers is empty': 'services:\n  a:\n    containers: []\n  b: {}\n  c: {}\n  d: {}\n',
  'container name invalid': 'services:\n  a:\n    containers: ["a; rm -rf /"]\n  b: {}\n  c: {}\n  d: {}\n',
  'auto_approve is a string': 'services:\n  a:\n    auto_approve: "yes"\n  b: {}\n  c: {}\n  d: {}\n',
  'monitor is a number': 'services:\n  a:\n    monitor: 1\n  b: {}\n  c: {}\n  d: {}\n',
  'updates is not a policy': 'services:\n  a:\n    updates: always\n  b: {}\n  c: {}\n  d: {}\n',
  'updates is a boolean': 'services:\n  a:\n    updates: true\n  b: {}\n  c: {}\n  d: {}\n',
  'docker updates is not a policy': 'docker:\n  socket: /x\n  updates: yes-please\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'docker is a string': 'docker: /var/run/docker.sock\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'docker has socket and url': 'docker:\n  socket: /var/run/docker.sock\n  url: tcp://10.0.0.1:2375\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'docker url with a bad scheme': 'docker:\n  url: ftp://10.0.0.1\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'tls verify: false': 'docker:\n  url: tcp://10.0.0.1:2376\n  tls:\n    dir: /certs\n    verify: false\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'tls without a client key': 'docker:\n  url: tcp://10.0.0.1:2376\n  tls:\n    ca: ca.pem\n    cert: cert.pem\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'tls with both dir and files': 'docker:\n  url: tcp://10.0.0.1:2376\n  tls:\n    dir: /certs\n    ca: ca.pem\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'tls on an ssh target': 'docker:\n  url: ssh://root@10.0.0.1\n  tls:\n    dir: /certs\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'unknown top-level key (typo)': 'docker:\n  socket: /x\nservces:\n  a: {}\n',
  'unknown service key (typo)': 'services:\n  a:\n    contianers: [a]\n  b: {}\n  c: {}\n  d: {}\n',
  'unknown docker key': 'docker:\n  sock: /x\nservices:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'duplicate top-level key': 'services:\n  a: {}\nservices:\n  b: {}\n',
  'duplicate service': 'services:\n  a: {}\n  b: {}\n  a: {}\n  c: {}\n  d: {}\n',
  'duplicate key inside a service': 'services:\n  a:\n    containers: [a]\n    containers: [x]\n  b: {}\n  c: {}\n  d: {}\n',
  'service name with a slash': 'services:\n  a/b: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'service name with dot-dot': 'services:\n  ../../etc: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'service name with a space': 'services:\n  a b: {}\n  b: {}\n  c: {}\n  d: {}\n',
  'service name too long': `services:\n  ${'a'.repeat(80)}: {}\n  b: {}\n  c: {}\n  d: {}\n`,
  'service name is a number key': 'services:\n  ? [a, b]\n  : {}\n',
  'alias bomb (9^6)': bomb(6),
  'alias bomb (9^9)': bomb(9),
  'unknown tag': 'services:\n  a: !!python/object:os.system {}\n  b: {}\n  c: {}\n  d: {}\n',
  'binary tag where a map belongs': 'services: !!binary aGVsbG8=\n',
  'merge key into services': 'base: &base {a: {}, b: {}}\nservices:\n  <<: *base\n',
  '10 MB of padding': `${GOOD}# ${'x'.repeat(10 * 1024 * 1024)}\n`,
  'just over 1 MiB': `${GOOD}# ${'x'.repeat(1024 * 1024)}\n`,
  'deep nesting': `services: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
  'NUL bytes': Buffer.concat([Buffer.from('services:\n  a: {}\n'), Buffer.alloc(16), Buffer.from('  b: {}\n')]),
  'invalid UTF-8': Buffer.concat([Buffer.from('services:\n  a'), Buffer.from([0xff, 0xfe]), Buffer.from(': {}\n')]),
  'UTF-16 with BOM': Buffer.from(`\ufeff${GOOD}`, 'utf16le'),
  'JSON without its closing brace': '{"services": {"a": {}, "b": {}}\n',
  'CRLF with a tab': 'services:\r\n\ta: {}\r\n',
  'depends_on an unknown service': 'services:\n  a:\n    depends_on: [vpn]\n  b: {}\n  c: {}\n  d: {}\n',
  'depends_on a service of another node': 'services:\n  a:\n    depends_on: [nas/vpn]\n  b: {}\n  c: {}\n  d: {}\n',
  'depends_on itself': 'services:\n  a:\n    depends_on: [a]\n  b: {}\n  c: {}\n  d: {}\n',
  'depends_on in a cycle': 'services:\n  a:\n    depends_on: [b]\n  b:\n    depends_on: [c]\n  c:\n    depends_on: [a]\n  d: {}\n',
  'depends_on is a string': 'services:\n  a:\n    depends_on: b\n  b: {}\n  c: {}\n  d: {}\n',
};

let root: string;
let hostsDir: string;
let file: string;
let actions: ActionStore;
let supervisor: Supervisor;
let desired: DesiredStore;
const NOW = Date.parse('2026-05-27T15:00:00.000Z');

const at = new Date(NOW - 60_000).toISOString();
const svc = (service: string, status: 'healthy' | 'unhealthy') => ({
  node: 'n1',
  service,
  status,
  reason: status === 'unhealthy' ? 'containers_not_running' : null,
  since: at,
  last_event_at: at,
  last_healthy_at: status === 'healthy' ? at : null,
  last_incident: null,
  changes: [at],
});
const world: World = {
  services: { 'n1/a': svc('a', 'unhealthy'), 'n1/b': svc('b', 'unhealthy'), 'n1/c': svc('c', 'healthy'), 'n1/d': svc('d', 'healthy') },
  nodes: { n1: { node: 'n1', last_seen: at, last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 40, disk_updated_at: at, events_applied: 9, events_unknown: 0, agent: 'alive' } },
};

async function snapshot(): Promise<string> {
  const out: string[] = [];
  for (const s of ['pending', 'approved', 'running', 'completed', 'failed', 'rejected', 'cancelled']) {
    for (const n of (await readdir(actions.dir(s as never))).sort()) out.push(`${s}/${n}:${await readFile(path.join(actions.dir(s as never), n), 'utf8')}`);
  }
  return out.join('\n');
}

beforeAll(async () => {
  root = await tempDir('hcp-bad-desired-');
  hostsDir = path.join(root, 'hosts');
  file = path.join(hostsDir, 'n1', 'services.yaml');
  await writeHosts(hostsDir, { n1: GOOD });
  actions = new ActionStore(path.join(root, 'actions'), () => NOW);
  await actions.ensureDirs();
  const state = new SupervisorState(path.join(root, 'state'));
  await state.ensureDirs();
  desired = new DesiredStore(hostsDir);
  await desired.reload();
  supervisor = new Supervisor({
    actions,
    state,
    log: memoryLogger('error').log,
    now: () => NOW,
    world: () => world,
    desired: () => desired.current(),
    desiredProblems: () => desired.problems(),
  });
});
afterAll(async () => {
  await removeDir(root);
});

describe('broken services.yaml', () => {
  it(`${Object.keys(VARIANTS).length + 2} broken variants: each reported, nothing created or cancelled`, async () => {
    const first = await supervisor.pass();
    expect(first.created.map((a) => a.id).sort()).toEqual(['container-restart-n1-a', 'container-restart-n1-b']);
    const before = await snapshot();
    const goodDesired = JSON.stringify(desired.current());
    const failures: string[] = [];
    const check = async (name: string) => {
      const r = await desired.reload();
      const pass = await supervisor.pass();
      if (r.problems.length === 0) failures.push(`${name}: not reported`);
      if (JSON.stringify(desired.current()) !== goodDesired) failures.push(`${name}: desired state changed`);
      if (pass.created.length || pass.cancelled.length) failures.push(`${name}: created ${pass.created.length}, cancelled ${pass.cancelled.length}`);
      if ((await snapshot()) !== before) failures.push(`${name}: action files changed`);
      for (const p of r.problems) if (!p.file.endsWith('services.yaml') || typeof p.line !== 'number' || !p.reason) failures.push(`${name}: problem without file/line/reason`);
    };
    for (const [name, content] of Object.entries(VARIANTS)) {
      await writeFile(file, content);
      await check(name);
    }
    // Not a file at all: a symlink to the good content elsewhere, and a FIFO nobody writes to.
    await writeFile(path.join(root, 'elsewhere.yaml'), GOOD);
    await rm(file);
    await symlink(path.join(root, 'elsewhere.yaml'), file);
    await check('symlink');
    await rm(file);
    execFileSync('mkfifo', [file]);
    await check('FIFO');
    await rm(file);
    expect(failures).toEqual([]);

    // The good file again: still nothing to do.
    await writeFile(file, GOOD);
    expect((await desired.reload()).problems).toEqual([]);
    const last = await supervisor.pass();
    expect(last.created).toEqual([]);
    expect(last.cancelled).toEqual([]);
    expect(await snapshot()).toBe(before);
    report('broken_services_yaml', { variants: Object.keys(VARIANTS).length + 2, failures: failures.length });
  }, 120_000);
});
