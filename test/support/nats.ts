// A real NATS server with JetStream for the tests: Debian's nats-server (2.9) on a loopback port,
// its store in a temp dir, optionally with a user and password. Started and stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import path from 'node:path';
import { connect, nkeys, type NatsConnection } from 'nats';
import { createHash } from 'node:crypto';
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

/**
 * A NATS operator, its account (JetStream on) and a user of it, as `nsc` would make them: the
 * server's configuration in operator mode (accounts preloaded in memory) and the user's `.creds`
 * file (its JWT and seed). `stranger` is a `.creds` file of a user of an account the server does not know.
 */
export async function natsOperator(dir: string): Promise<{ config: string; creds: string; stranger: string }> {
  await mkdir(dir, { recursive: true });
  const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');
  const jwt = (issuer: nkeys.KeyPair, sub: string, name: string, claims: Record<string, unknown>) => {
    const header = b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
    const body: Record<string, unknown> = { iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub, nats: { ...claims, version: 2 } };
    body.jti = createHash('sha256').update(JSON.stringify(body)).digest('base64url').toUpperCase().slice(0, 52);
    const payload = b64(JSON.stringify(body));
    return `${header}.${payload}.${b64(issuer.sign(new TextEncoder().encode(`${header}.${payload}`)))}`;
  };
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const [op, account, sys, other] = [nkeys.createOperator(), nkeys.createAccount(), nkeys.createAccount(), nkeys.createAccount()];
  const credsOf = async (acc: nkeys.KeyPair, name: string) => {
    const user = nkeys.createUser();
    const file = path.join(dir, `${name}.creds`);
    const userJwt = jwt(acc, user.getPublicKey(), name, { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
    await writeFile(file, `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(user.getSeed())}\n------END USER NKEY SEED------\n`);
    return file;
  };
  const opFile = path.join(dir, 'operator.jwt');
  await writeFile(opFile, jwt(op, op.getPublicKey(), 'homelab-op', { type: 'operator', system_account: sys.getPublicKey() }));
  const accounts = [
    [account, jwt(op, account.getPublicKey(), 'homelab', { type: 'account', limits: { ...unlimited, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } })],
    [sys, jwt(op, sys.getPublicKey(), 'SYS', { type: 'account', limits: unlimited })],
  ] as const;
  return {
    config: `operator: "${opFile}"\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload: {\n${accounts.map(([k, j]) => `  ${k.getPublicKey()}: ${j}\n`).join('')}}\n`,
    creds: await credsOf(account, 'cp'),
    stranger: await credsOf(other, 'stranger'),
  };
}
