// A real NATS server with JetStream for the tests: Debian's nats-server (2.9) on a loopback port,
// its store in a temp dir, optionally with a user and password. Started and stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { KvActionStore } from '../../src/nats/actions-kv.js';
import { realClock } from '../../src/time/clock.js';
import { freePort } from './registry.js';
import { memoryLogger, waitFor } from './helpers.js';

const silentLog = memoryLogger('warn').log;

/** Debian installs it in /usr/sbin, which a user's PATH may not hold. */
const BIN = spawnSync('nats-server', ['--version']).status === 0 ? 'nats-server' : '/usr/sbin/nats-server';

/** Why NATS tests cannot run here, or undefined. */
export function natsMissing(): string | undefined {
  return spawnSync(BIN, ['--version']).status === 0 ? undefined : 'nats-server is not installed (apt-get install nats-server; .ci/run does)';
}

export interface TestNats {
  port: number;
  url: string;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`) and waits for its exit. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/**
 * `config`: a server configuration (authorization blocks) given with -c; `cluster`: this server's
 * name, cluster port and the routes to the others (a cluster on loopback).
 */
export async function startNats(dir: string, opts: { port?: number; user?: string; password?: string; config?: string; cluster?: { name: string; port: number; routes: number[] } } = {}): Promise<TestNats> {
  const store = path.join(dir, 'jetstream');
  await mkdir(store, { recursive: true });
  const port = opts.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async () => {
    const auth = opts.user ? ['--user', opts.user, '--pass', opts.password ?? ''] : [];
    if (opts.cluster) {
      const c = opts.cluster;
      auth.push('--server_name', c.name, '--cluster_name', 'hcp', '--cluster', `nats://127.0.0.1:${c.port}`, '--routes', c.routes.map((r) => `nats://127.0.0.1:${r}`).join(','));
    }
    if (opts.config !== undefined) {
      await writeFile(path.join(dir, 'nats.conf'), opts.config);
      auth.push('-c', path.join(dir, 'nats.conf'));
    }
    child = spawn(BIN, ['-js', '-sd', store, '-a', '127.0.0.1', '-p', String(port), ...auth], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const c = child;
    try {
      await waitFor(
        async () => {
          if (c.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
          // A cluster's JetStream answers once its servers elect a leader: the test waits for that.
          return (await accepts(port)) && /Server is ready/.test(stderr);
        },
        { timeoutMs: 30_000, what: `nats-server to listen on ${port}` },
      );
    } catch (err) {
      // Never left behind: a server that did not come up is stopped before the test fails.
      c.kill('SIGKILL');
      throw new Error(`${(err as Error).message}; its log ends: ${stderr.slice(-600)}`);
    }
  };
  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    start: async () => {
      stderr = '';
      await start();
    },
    stop: async (hard = false) => {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(hard ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
  };
}

/** Three servers clustered on loopback ports, each with its own store under `dir`. */
export async function startNatsCluster(dir: string): Promise<TestNats[]> {
  // Six different ports (a port just freed may be handed out again).
  const free = new Set<number>();
  while (free.size < 6) free.add(await freePort());
  const [ports, cports] = [[...free].slice(0, 3), [...free].slice(3)];
  const started = await Promise.allSettled(ports.map((port, i) => startNats(path.join(dir, `s${i}`), { port, cluster: { name: `s${i}`, port: cports[i]!, routes: cports.filter((_, k) => k !== i) } })));
  const up = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    for (const s of up) await s.stop(true);
    throw failed.reason;
  }
  return up;
}

/** A KV action store on its own connection to `url`, its bucket read; `close` stops both. */
export async function openKvStore(url: string, now?: () => number): Promise<{ store: KvActionStore; nc: NatsConnection; close: () => Promise<void> }> {
  const nc = await connect({ servers: url });
  const store = new KvActionStore({ log: silentLog, clock: realClock, ...(now ? { now } : {}) });
  store.begin(nc);
  await store.ready(20_000);
  return {
    store,
    nc,
    close: async () => {
      await store.stop();
      await nc.close();
    },
  };
}
