// An ssh:// target without a key or an agent: the start warns once per node, an action fails at
// once saying what to configure (no connection is even tried), an SSH server that hangs up is
// explained, and no DEP0170 warning is printed for ssh URLs.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { ActionStore } from '../../src/store/actions.js';
import { layout } from '../../src/store/paths.js';
import { memoryLogger, removeDir, repoRoot, tempDir, waitFor, writeHosts } from '../support/helpers.js';

let root: string;
let server: net.Server;
let connections = 0;
let port = 0;
let running: Running | undefined;

beforeEach(async () => {
  root = await tempDir('hcp-ssh-');
  connections = 0;
  // An "SSH server" that hangs up before the handshake: it reads the client's identification
  // line and closes (a close with that line unread would be a reset, whose words differ).
  server = net.createServer((c) => {
    connections++;
    c.on('error', () => {});
    c.once('data', () => c.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await new Promise((r) => server.close(r));
  await removeDir(root);
});

describe('ssh:// without credentials', () => {
  it('warns at start, and the action fails at once with what to configure, touching nothing', async () => {
    await writeHosts(path.join(root, 'hosts'), { pi: `docker:\n  url: ssh://root@127.0.0.1:${port}\nservices:\n  app: {}\n` });
    const l = layout(path.join(root, 'homelab'));
    const mem = memoryLogger();
    running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: path.join(root, 'hosts'), RECONCILE_INTERVAL_S: '3600' }), mem.log);
    expect(mem.lines.filter((x) => /needs SSH credentials: set SSH_KEY_PATH/.test(String(x.msg)))).toHaveLength(1);
    const store = new ActionStore(l.actions);
    await store.create({ id: 'container-restart-pi-app', instance: '20260527T140000Z', type: 'container_restart', risk: 'low', node: 'pi', service: 'app', drift: 'unhealthy_service', trigger: 'containers_not_running', containers: ['app'], drift_since: null });
    await store.transition({ id: 'container-restart-pi-app', from: 'pending', to: 'approved', by: 'test' });
    const failed = await waitFor(async () => (await store.list('failed'))[0], { what: 'the action failed' });
    expect(failed.error).toBe(`cannot reach pi's Docker Engine: ssh://root@127.0.0.1:${port} needs SSH credentials: set SSH_KEY_PATH to a private key file whose public key is in the node's authorized_keys, or SSH_AUTH_SOCK to a running ssh-agent holding one`);
    expect(connections).toBe(0);
  });

  it('warns once at start for an ssh:// host whose key is not pinned and a tcp:// engine off this machine without TLS', async () => {
    await writeHosts(path.join(root, 'hosts'), {
      pi: `docker:\n  url: ssh://root@127.0.0.1:${port}\nservices:\n  app: {}\n`,
      nas: 'docker:\n  url: tcp://10.0.0.9:2375\nservices:\n  app: {}\n',
      local: 'docker:\n  url: tcp://127.0.0.1:2375\nservices:\n  app: {}\n',
      safe: 'docker:\n  url: tcp://10.0.0.10:2376\n  tls:\n    dir: certs\nservices:\n  app: {}\n',
      pinned: 'docker:\n  url: ssh://root@pinned.lan\nservices:\n  app: {}\n',
    });
    const knownHosts = path.join(root, 'known_hosts');
    const [type, b64] = ['ssh-ed25519', 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'];
    await writeFile(knownHosts, `pinned.lan ${type} ${b64}\n`);
    const mem = memoryLogger();
    running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, 'homelab'), HOSTS_DIR: path.join(root, 'hosts'), RECONCILE_INTERVAL_S: '3600', SSH_KEY_PATH: path.join(root, 'hosts', 'pi', 'services.yaml'), SSH_KNOWN_HOSTS: knownHosts }), mem.log);
    const warned = mem.lines.filter((x) => x.level === 40).map((x) => String(x.msg));
    expect(warned.filter((m) => /not in SSH_KNOWN_HOSTS/.test(m))).toEqual([`pi: the SSH host key of ssh://root@127.0.0.1:${port} is not in SSH_KNOWN_HOSTS (${knownHosts}); until it is, every connection is refused: run control-plane hosts trust pi`]);
    expect(warned.filter((m) => /without authentication/.test(m))).toEqual([expect.stringMatching(/^nas: tcp:\/\/10\.0\.0\.9:2375 is plain HTTP without authentication: anyone who reaches that port is root on nas; use tls:/)]);
  });

  it('one line per ssh:// node with both problems, and none for a node that watches nothing', async () => {
    await writeHosts(path.join(root, 'hosts'), {
      pi: `docker:\n  url: ssh://root@127.0.0.1:${port}\nservices:\n  app: {}\n`,
      ha: 'docker:\n  url: ssh://homelab@10.0.0.8\nservices:\n  homeassistant:\n    monitor: false\n',
    });
    const mem = memoryLogger();
    running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, 'homelab'), HOSTS_DIR: path.join(root, 'hosts'), RECONCILE_INTERVAL_S: '3600', SSH_KNOWN_HOSTS: path.join(root, 'none') }), mem.log);
    const warned = mem.lines.filter((x) => x.level === 40 && /ssh:\/\//.test(String(x.msg))).map((x) => String(x.msg));
    expect(warned).toEqual([expect.stringMatching(/^pi: ssh:\/\/root@127\.0\.0\.1:\d+ needs SSH credentials: set SSH_KEY_PATH .*, and the SSH host key of ssh:\/\/root@127\.0\.0\.1:\d+ is not in SSH_KNOWN_HOSTS .*: run control-plane hosts trust pi; until then its actions fail$/)]);
  });

  it('a server that hangs up is explained, and no DEP0170 warning is printed', async () => {
    const script = `
      import { engineFor, explainDockerError } from ${JSON.stringify(path.join(repoRoot, 'dist', 'docker', 'engine.js'))};
      const url = 'ssh://root@127.0.0.1:${port}';
      try { await engineFor({ url }, { sshAuthSock: '/nonexistent/agent.sock' }).ping(); } catch (e) { console.log(explainDockerError(e, { url }, 'pi')); }
    `;
    // (Not spawnSync: the server above lives in this process and must keep answering.)
    const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout).toMatch(/cannot reach pi's Docker Engine at ssh:\/\/root@127\.0\.0\.1:\d+: the SSH server closed the connection before the handshake/);
    expect(r.stderr).not.toMatch(/DEP0170|DeprecationWarning/);
  });
});
