// A stop with no action under way ends within 5 s whatever else hangs: Telegram accepting
// connections and never answering, a node's engine that never answers (an interrupted redeploy is
// waiting to be checked there), an agent's push half sent, a mirror's keep-alive connection.
import { writeFile, mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../src/store/paths.js';
import { startRunChild } from '../support/child.js';
import { removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

let root: string;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/** A server that accepts connections and never says a word. */
async function blackhole(listen: (s: net.Server) => void): Promise<net.Server> {
  const s = net.createServer((c) => {
    sockets.add(c);
    c.on('error', () => {});
  });
  servers.push(s);
  await new Promise<void>((resolve) => {
    s.once('listening', () => resolve());
    listen(s);
  });
  return s;
}

beforeAll(async () => {
  root = await tempDir('hcp-shutdown-');
});
afterAll(async () => {
  for (const c of sockets) c.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await removeDir(root);
});

describe('shutdown', () => {
  it('SIGTERM with nothing under way exits 0 within 5 s while Telegram, an engine and clients hang', async () => {
    const telegram = await blackhole((s) => s.listen(0, '127.0.0.1'));
    const engineSock = path.join(root, 'engine.sock');
    await blackhole((s) => s.listen(engineSock));
    await writeHosts(path.join(root, 'hosts'), { n1: `docker:\n  socket: ${engineSock}\nservices:\n  app: {}\n` });
    const l = layout(path.join(root, 'homelab'));
    // An interrupted redeploy from an earlier run: its containers are checked on the silent engine.
    await mkdir(l.state, { recursive: true });
    await writeFile(path.join(l.state, 'interrupted-redeploys.json'), JSON.stringify([{ id: 'redeploy-n1-app', instance: '20260101T000000Z', node: 'n1', containers: ['app'] }]));
    const child = startRunChild({
      PATH: process.env.PATH,
      HOMELAB_ROOT: l.root,
      HOSTS_DIR: path.join(root, 'hosts'),
      PORT: '0',
      TELEGRAM_BOT_TOKEN: '123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef',
      TELEGRAM_CHAT_ID: '42',
      TELEGRAM_API_ROOT: `http://127.0.0.1:${(telegram.address() as net.AddressInfo).port}`,
      INGEST_TOKENS: 'n1=0123456789abcdef0123',
      LOG_LEVEL: 'info',
    });
    const base = await child.ready();
    const url = new URL(base);
    // Telegram is being asked (getMe hangs) and the engine is being asked (the recovery check).
    await waitFor(() => sockets.size >= 2, { what: 'connections to Telegram and the engine' });
    // An agent's push, headers sent and half the body; a mirror's keep-alive connection.
    const push = net.connect(Number(url.port), url.hostname);
    push.on('error', () => {});
    push.write(`POST /ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer 0123456789abcdef0123\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{"ts":`);
    const mirror = net.connect(Number(url.port), url.hostname);
    mirror.on('error', () => {});
    let mirrorAnswer = '';
    mirror.on('data', (d) => (mirrorAnswer += d));
    mirror.write('GET /world/services.json HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await waitFor(() => mirrorAnswer.includes('200 OK'), { what: 'the mirror request answered' });
    const sent = Date.now();
    child.proc.kill('SIGTERM');
    const { code, at } = await child.exited;
    push.destroy();
    mirror.destroy();
    expect(code, child.output()).toBe(0);
    expect(at - sent).toBeLessThan(5000);
    expect(child.output()).toMatch(/"msg":"stopped"/);
  });
});

describe('control-plane run without the heap flags', () => {
  it('runs itself again with them: the control plane (the pid file\'s process) has them, signals reach it, and it never outlives its parent', async () => {
    const { spawn } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const { cliPath } = await import('../support/helpers.js');
    const wait = waitFor;
    for (const ending of ['SIGTERM', 'SIGKILL'] as const) {
      const dir = await tempDir('hcp-reexec-');
      try {
        const hosts = path.join(dir, 'hosts');
        await writeHosts(hosts, { n1: 'services:\n  app: {}\n' });
        const home = path.join(dir, 'home');
        const parent = spawn(process.execPath, [cliPath, 'run'], { env: { PATH: process.env.PATH, HOMELAB_ROOT: home, HOSTS_DIR: hosts, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        parent.stdout!.on('data', (d) => (out += d));
        parent.stderr!.on('data', (d) => (out += d));
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => parent.on('exit', (code, signal) => resolve({ code, signal })));
        await wait(() => /web page and API on/.test(out), { timeoutMs: 20_000, what: 'the control plane to listen' });
        const pid = Number(readFileSync(path.join(home, 'state', 'control-plane.pid'), 'utf8').trim().split(/\s/)[0]);
        expect(pid).not.toBe(parent.pid);
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        expect(cmdline).toEqual(expect.arrayContaining(['--heap-growing-percent=50', '--max-semi-space-size=4', 'run']));
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
        const alive = () => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        };
        parent.kill(ending);
        const r = await exited;
        if (ending === 'SIGTERM') {
          expect(r.code).toBe(0);
          expect(out).toMatch(/"msg":"stopped"/);
        }
        await wait(() => !alive(), { timeoutMs: 5000, what: `the control plane to end after its parent's ${ending}` });
      } finally {
        await removeDir(dir);
      }
    }
  });
});
