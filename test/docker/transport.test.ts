// Trust on the wire against real servers: Debian's sshd in front of the real dockerd (host keys
// pinned in known_hosts) and a TLS endpoint that asks for client certificates.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../../src/domain/actions.js';
import type { DesiredState } from '../../src/domain/schemas.js';
import { explainDockerError } from '../../src/docker/engine.js';
import { Executor } from '../../src/loops/executor.js';
import { ActionStore } from '../../src/store/actions.js';
import { dockerOrSkip, makeTestContainer, probeDocker, removeLabelled } from '../support/docker.js';
import { cliPath, memoryLogger, removeDir, tempDir, writeHosts } from '../support/helpers.js';
import { keygen, makeCa, makeCert, sshdMissing, startSshd, startTlsRelay, type Sshd, type TlsRelay } from '../support/transport.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const NODE = 'remote';

let root: string;
let store: ActionStore;
let docker: Docker;
let seq = 0;

async function restartVia(target: DesiredState[string]['docker'], engineOptions: ConstructorParameters<typeof Executor>[0]['engineOptions'], container: string): Promise<Action> {
  const desired: DesiredState = { [NODE]: { node: NODE, docker: target, services: { app: { node: NODE, service: 'app', containers: [container], monitor: true, auto_approve: false, updates: 'off' } } } };
  const instance = `20260527T14${String(seq++).padStart(4, '0')}Z`;
  await store.create({ id: `container-restart-${NODE}-app`, instance, type: 'container_restart', risk: 'low', node: NODE, service: 'app', drift: 'unhealthy_service', trigger: 'test', containers: [], drift_since: null });
  await store.transition({ id: `container-restart-${NODE}-app`, from: 'pending', to: 'approved', by: 'test' });
  const ex = new Executor({ actions: store, desired: () => desired, world: () => ({ services: {}, nodes: {} }), log: memoryLogger().log, now: Date.now, actionTimeoutS: 60, verifyAfterS: 120, ...(engineOptions ? { engineOptions } : {}) });
  await ex.pass();
  await ex.idle();
  for (const state of ['completed', 'failed'] as const) {
    const name = (await readdir(store.dir(state))).find((n) => n.includes(instance));
    if (name) return JSON.parse(await readFile(path.join(store.dir(state), name), 'utf8'));
  }
  throw new Error('the action did not finish');
}

const startedAt = async (name: string) => (await docker.getContainer(name).inspect()).State.StartedAt;

describe.skipIf(!run)('trust on the wire', () => {
  beforeEach(async () => {
    docker = probe.docker!;
    root = await tempDir('hcp-wire-');
    store = new ActionStore(path.join(root, 'actions'));
    await store.ensureDirs();
  });
  afterEach(async () => {
    await removeLabelled(docker, runId);
    await removeDir(root);
  });

  // In CI a missing sshd fails the tests (startSshd throws); elsewhere they are skipped.
  describe.skipIf(sshdMissing() !== undefined && process.env.CI !== 'true')('ssh:// with pinned host keys (a real sshd)', () => {
    let sshd: Sshd;
    let sshdDir: string;
    beforeAll(async () => {
      sshdDir = await tempDir('hcp-sshd-');
      sshd = await startSshd(sshdDir);
    });
    afterAll(async () => {
      await sshd?.stop();
      await removeDir(sshdDir);
    });

    it('refuses an unlisted key with its fingerprint and sends nothing; hosts trust --yes adds it; then the restart works', async () => {
      const name = `hcp-${runId}-ssh`;
      await makeTestContainer(docker, runId, name);
      const before = await startedAt(name);
      const knownHosts = path.join(root, 'ssh', 'known_hosts');
      const url = `ssh://root@127.0.0.1:${sshd.port}`;
      const opts = { sshKeyPath: sshd.clientKey, knownHostsPath: knownHosts };

      const refused = await restartVia({ url }, opts, name);
      expect(refused.state).toBe('failed');
      expect(refused.error).toContain(`it presented the ssh-ed25519 key ${sshd.fingerprint}`);
      expect(refused.error).toContain(`not in SSH_KNOWN_HOSTS (${knownHosts})`);
      expect(refused.error).toContain(`control-plane hosts trust ${NODE}`);
      expect(refused.error).toContain(`ssh-keyscan -p ${sshd.port} -t ssh-ed25519 127.0.0.1 >> ${knownHosts}`);
      // Refused in the key exchange: never authenticated, so no command ran on the node.
      expect(sshd.log()).not.toMatch(/Accepted publickey/);
      expect(await startedAt(name)).toBe(before);

      // The operator's command, as documented: the fingerprint is printed, --yes adds it.
      await writeHosts(path.join(root, 'hosts'), { [NODE]: `docker:\n  url: ${url}\nservices:\n  app:\n    containers: [${name}]\n` });
      const env = { PATH: process.env.PATH, HOSTS_DIR: path.join(root, 'hosts'), HOMELAB_ROOT: path.join(root, 'homelab'), SSH_KNOWN_HOSTS: knownHosts };
      // Not on a terminal and without --yes: the fingerprint is shown, nothing is added.
      const asked = spawnSync(process.execPath, [cliPath, 'hosts', 'trust', NODE], { env, encoding: 'utf8' });
      expect(asked.status).toBe(2);
      expect(asked.stdout).toContain(sshd.fingerprint);
      expect(asked.stderr).toMatch(/not added: confirm on a terminal, or pass --yes/);
      await expect(readFile(knownHosts, 'utf8')).rejects.toThrow(/ENOENT/);
      const trust = spawnSync(process.execPath, [cliPath, 'hosts', 'trust', NODE, '--yes'], { env, encoding: 'utf8' });
      expect(trust.status, trust.stderr).toBe(0);
      expect(trust.stdout).toContain(`presents the ssh-ed25519 key ${sshd.fingerprint}`);
      expect(await readFile(knownHosts, 'utf8')).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPub.split(' ').slice(0, 2).join(' ')}\n`);
      const again = spawnSync(process.execPath, [cliPath, 'hosts', 'trust', NODE, '--yes'], { env, encoding: 'utf8' });
      expect(again.stdout).toMatch(/already trusted/);

      const done = await restartVia({ url }, opts, name);
      expect(done.state, done.error).toBe('completed');
      expect(await startedAt(name)).not.toBe(before);
    });

    it('a different key listed for the host (or the key revoked) is refused the same way, and hosts trust never replaces it', async () => {
      const name = `hcp-${runId}-ssh2`;
      await makeTestContainer(docker, runId, name);
      const before = await startedAt(name);
      const knownHosts = path.join(root, 'known_hosts');
      const other = path.join(root, 'other_ed25519');
      keygen(other);
      const otherPub = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
      const wrong = `[127.0.0.1]:${sshd.port} ${otherPub}\n`;
      await writeFile(knownHosts, wrong);
      const url = `ssh://root@127.0.0.1:${sshd.port}`;
      const opts = { sshKeyPath: sshd.clientKey, knownHostsPath: knownHosts };

      const changed = await restartVia({ url }, opts, name);
      expect(changed.state).toBe('failed');
      expect(changed.error).toContain(`it presented the ssh-ed25519 key ${sshd.fingerprint}, but SSH_KNOWN_HOSTS (${knownHosts}, line 1) lists SHA256:`);
      expect(changed.error).toMatch(/never replaced automatically/);
      expect(await startedAt(name)).toBe(before);

      await writeHosts(path.join(root, 'hosts'), { [NODE]: `docker:\n  url: ${url}\nservices:\n  app:\n    containers: [${name}]\n` });
      const env = { PATH: process.env.PATH, HOSTS_DIR: path.join(root, 'hosts'), HOMELAB_ROOT: path.join(root, 'homelab'), SSH_KNOWN_HOSTS: knownHosts };
      const trust = spawnSync(process.execPath, [cliPath, 'hosts', 'trust', NODE, '--yes'], { env, encoding: 'utf8' });
      expect(trust.status).toBe(1);
      expect(trust.stderr).toMatch(/the key CHANGED/);
      expect(await readFile(knownHosts, 'utf8')).toBe(wrong);

      // The right key, hashed by ssh-keygen -H as OpenSSH's HashKnownHosts writes it: accepted.
      await writeFile(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPub.split(' ').slice(0, 2).join(' ')}\n`);
      expect(spawnSync('ssh-keygen', ['-H', '-f', knownHosts]).status).toBe(0);
      expect(await readFile(knownHosts, 'utf8')).toMatch(/^\|1\|/);
      const ok = await restartVia({ url }, opts, name);
      expect(ok.state, ok.error).toBe('completed');

      const authenticated = sshd.log().match(/Accepted publickey/g)!.length;
      // Revoked wherever it is listed, even beside an entry that trusts it.
      await writeFile(knownHosts, `${await readFile(knownHosts, 'utf8')}@revoked * ${sshd.hostPub.split(' ').slice(0, 2).join(' ')}\n`);
      const revoked = await restartVia({ url }, opts, name);
      expect(revoked.error).toMatch(/which SSH_KNOWN_HOSTS \(.*, line 2\) marks @revoked/);
      expect(sshd.log().match(/Accepted publickey/g)).toHaveLength(authenticated);
    });
  });

  describe('tcp:// with TLS and client certificates (a TLS endpoint in front of the engine)', () => {
    let relay: TlsRelay;
    let pki: string;
    let files: { ca: string; cert: string; key: string };
    let otherClient: { cert: string; key: string };
    let wrongName: TlsRelay;
    beforeAll(async () => {
      pki = await tempDir('hcp-pki-');
      const ca = makeCa(pki, 'ca');
      const server = makeCert(pki, 'server', ca, 'subjectAltName=IP:127.0.0.1,DNS:localhost');
      const client = makeCert(pki, 'client', ca, 'extendedKeyUsage=clientAuth');
      const otherCa = makeCa(pki, 'other-ca');
      otherClient = makeCert(pki, 'other-client', otherCa, 'extendedKeyUsage=clientAuth');
      const elsewhere = makeCert(pki, 'elsewhere', ca, 'subjectAltName=DNS:engine.elsewhere.example');
      files = { ca: ca.cert, cert: client.cert, key: client.key };
      relay = await startTlsRelay(server, ca.cert);
      wrongName = await startTlsRelay(elsewhere, ca.cert);
    });
    afterAll(async () => {
      await relay?.stop();
      await wrongName?.stop();
      await removeDir(pki);
    });

    it('restarts with the right client certificate; another CA\'s, none, or a server certificate for another name fail clearly and touch nothing', async () => {
      const name = `hcp-${runId}-tls`;
      await makeTestContainer(docker, runId, name);
      const before = await startedAt(name);
      const url = `tcp://127.0.0.1:${relay.port}`;

      const ok = await restartVia({ url, tls: files }, undefined, name);
      expect(ok.state, ok.error).toBe('completed');
      const afterOk = await startedAt(name);
      expect(afterOk).not.toBe(before);
      const passed = relay.accepted();

      const foreign = await restartVia({ url, tls: { ...files, ...otherClient } }, undefined, name);
      expect(foreign.state).toBe('failed');
      expect(foreign.error).toMatch(/refused this client's TLS certificate/);
      expect(relay.refused().length).toBeGreaterThan(0);

      // No client certificate at all (services.yaml cannot say so: tls: needs cert and key).
      const bare = new Docker({ protocol: 'https', host: '127.0.0.1', port: relay.port, ca: await readFile(files.ca) });
      const err = await bare.getContainer(name).restart().then(() => undefined, (e: unknown) => e);
      expect(explainDockerError(err, { url, tls: files }, NODE)).toMatch(/refused this client's TLS certificate/);

      const misnamed = await restartVia({ url: `tcp://127.0.0.1:${wrongName.port}`, tls: files }, undefined, name);
      expect(misnamed.state).toBe('failed');
      expect(misnamed.error).toContain("the engine's TLS certificate is for another name");
      expect(wrongName.accepted()).toBe(0);

      expect(relay.accepted()).toBe(passed);
      expect(await startedAt(name)).toBe(afterOk);
    });
  });
});
