// A real container registry for the Docker tests: Debian's docker-registry (the CNCF distribution
// registry) on a free loopback port, with its storage in a temp dir, optionally behind htpasswd
// Basic auth. Started and stopped by the test; images are pushed into it with the real dockerd.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { waitFor } from './helpers.js';

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  url: string;
  stop(): Promise<void>;
}

/** Why registry tests cannot run here, or undefined. */
export function registryMissing(): string | undefined {
  if (spawnSync('docker-registry', ['--version']).status !== 0) return 'docker-registry is not installed (apt-get install docker-registry; .ci/run does)';
  if (spawnSync('docker', ['version', '--format', '{{.Client.Version}}']).status !== 0) return 'the docker CLI is missing';
  return undefined;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRegistry(dir: string, opts: { user?: string; password?: string } = {}): Promise<TestRegistry> {
  await mkdir(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  let auth = '';
  if (opts.user && opts.password) {
    const h = spawnSync('htpasswd', ['-Bbn', opts.user, opts.password]);
    if (h.status !== 0) throw new Error(`htpasswd failed: ${h.stderr}`);
    await writeFile(path.join(dir, 'htpasswd'), h.stdout);
    auth = `auth:\n  htpasswd:\n    realm: test-registry\n    path: ${path.join(dir, 'htpasswd')}\n`;
  }
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
      const res = await fetch(`${url}/v2/`).catch(() => undefined);
      return res && (res.status === 200 || res.status === 401);
    },
    { timeoutMs: 15_000, what: 'docker-registry to answer' },
  );
  return {
    host: `127.0.0.1:${port}`,
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise<void>((r) => setTimeout(r, 3000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Runs the docker CLI (with its own DOCKER_CONFIG, never the developer's); throws with its output on failure. */
export function dockerCli(args: string[], opts: { input?: string; dockerConfig: string }): string {
  const r = spawnSync('docker', args, { input: opts.input, env: { ...process.env, DOCKER_CONFIG: opts.dockerConfig }, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/**
 * Removes what the registry tests left on the engine: every reference (tag or repo digest) that
 * contains `marker` (the run id). An image that also carries a reference without it (the shared
 * test image) only loses those references; one made by the test is removed.
 */
export async function removeImagesMarked(docker: import('dockerode'), marker: string): Promise<void> {
  for (const img of await docker.listImages({ all: true, digests: true } as never)) {
    const refs = [...(img.RepoTags ?? []), ...(img.RepoDigests ?? [])].filter((r) => r.includes(marker));
    if (refs.length === 0) continue;
    const shared = (img.RepoTags ?? []).some((t) => !t.includes(marker) && t !== '<none>:<none>');
    if (shared) for (const r of refs) await docker.getImage(r).remove({ noprune: true }).catch(() => {});
    else await docker.getImage(img.Id).remove({ force: true }).catch(() => {});
  }
}
