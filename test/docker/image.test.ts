// The shipped image: built with a locally made Node base of the major running the tests (24 in CI;
// no registry here), started against
// an empty /opt/homelab, healthy by its own HEALTHCHECK, and answering /summary. compose.yaml is
// valid for docker-compose v1.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { chown } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerOrSkip, probeDocker } from '../support/docker.js';
import { removeDir, repoRoot, tempDir, waitFor } from '../support/helpers.js';

const probe = await probeDocker();
const run = dockerOrSkip(probe);
const runId = randomBytes(4).toString('hex');
const name = `hcp-image-${runId}`;
// Tags of the tests' own: an operator's homelab-control-plane or local/node images are never
// rebuilt or retagged. The base is kept between runs like homelab-test/busybox:1; the image under
// test is removed afterwards.
const BASE = `homelab-test/node:${process.versions.node.split('.')[0]}-bookworm-slim`;
const TAG = `homelab-test/control-plane:${runId}`;
let dir: string | undefined;

describe.skipIf(!run)('the Docker image', () => {
  afterAll(async () => {
    spawnSync('docker', ['rm', '-f', name]);
    spawnSync('docker', ['rmi', TAG]);
    if (dir) await removeDir(dir);
  });

  it('builds, runs as UID 1000, becomes healthy and serves /summary', async () => {
    execFileSync('bash', ['scripts/local-node-image.sh'], { cwd: repoRoot, stdio: 'pipe', timeout: 600_000, env: { ...process.env, NODE_IMAGE: BASE } });
    execFileSync('docker', ['build', '-q', '--build-arg', `NODE_IMAGE=${BASE}`, '-t', TAG, '.'], { cwd: repoRoot, stdio: 'pipe', timeout: 600_000 });
    const size = Number(execFileSync('docker', ['image', 'inspect', TAG, '--format', '{{.Size}}']).toString().trim());
    console.log(`image ${TAG}: ${Math.round(size / 1024 / 1024)} MB`);
    dir = await tempDir('hcp-image-');
    await chown(dir, 1000, 1000);
    execFileSync('docker', [
      'run', '-d', '--name', name,
      '-e', 'HOST=0.0.0.0',
      '-p', '127.0.0.1::18180',
      '-v', `${dir}:/opt/homelab`,
      '--health-interval', '1s', '--health-start-period', '1s',
      TAG,
    ]);
    const info = JSON.parse(execFileSync('docker', ['inspect', name]).toString())[0];
    expect(info.Config.User).toBe('1000:1000');
    expect(info.Config.Env).toContain('HOMELAB_ROOT=/opt/homelab');
    await waitFor(() => JSON.parse(execFileSync('docker', ['inspect', name]).toString())[0].State.Health?.Status === 'healthy', { timeoutMs: 60_000, what: 'healthy' });
    const port = execFileSync('docker', ['port', name, '18180/tcp']).toString().trim().split(':').pop();
    const summary = await (await fetch(`http://127.0.0.1:${port}/summary`)).json();
    expect(summary.nodes.map((n: { node: string }) => n.node)).toEqual(['chelsty-ha', 'chelsty-infra', 'piha']);
    expect(spawnSync('ls', [`${dir}/world`]).stdout.toString()).toMatch(/services\.json/);
  }, 900_000);

  it('compose.yaml is valid for docker-compose v1, with and without the agent profile', () => {
    const hasV1 = spawnSync('docker-compose', ['version']).status === 0;
    if (!hasV1) {
      if (process.env.CI === 'true') throw new Error('docker-compose (v1) is required in CI: apt-get install -y docker-compose');
      console.warn('skipping: docker-compose not installed');
      return;
    }
    // compose.yaml reads .env (env_file): validate a copy next to one, as a deployment has it.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hcp-compose-'));
    copyFileSync(path.join(repoRoot, 'compose.yaml'), path.join(dir, 'compose.yaml'));
    const missing = spawnSync('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: dir, encoding: 'utf8' });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/\.env/);
    writeFileSync(path.join(dir, '.env'), 'CONTROL_PLANE_HOST=100.95.58.48\nTELEGRAM_CHAT_ID=123\nAGENT_NODE=piha\n');
    const cfg = spawnSync('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: dir, encoding: 'utf8' });
    expect(cfg.status, cfg.stderr).toBe(0);
    expect(cfg.stdout).toMatch(/HOST: 100\.95\.58\.48/);
    expect(cfg.stdout).toMatch(/TELEGRAM_CHAT_ID: '123'/);
    expect(cfg.stdout).toMatch(/network_mode: host/);
    // Docker must not kill the control plane before SHUTDOWN_GRACE_S (25 s) is over.
    expect(cfg.stdout).toMatch(/stop_grace_period: 30s/);
    const base = spawnSync('docker-compose', ['-f', 'compose.yaml', 'config', '--services'], { cwd: dir, encoding: 'utf8' });
    expect(base.status, base.stderr).toBe(0);
    // (v1 lists every service here, profiles or not.)
    expect(base.stdout.trim().split('\n')).toContain('control-plane');
    const agent = spawnSync('docker-compose', ['-f', 'compose.yaml', '--profile', 'agent', 'config', '--services'], { cwd: dir, encoding: 'utf8' });
    expect(agent.status, agent.stderr).toBe(0);
    expect(agent.stdout.trim().split('\n').sort()).toEqual(['control-plane', 'node-agent']);
  });
});
