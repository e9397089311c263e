// The dead-man's switch against a local HTTP watcher: /start once everything has started,
// /healthz shows the last ping, and a HEARTBEAT_URL that is not a URL stops the start naming it.
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { memoryLogger, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

let server: Server | undefined;
let running: Running | undefined;
let root: string | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  if (root) await removeDir(root);
});

describe('heartbeat to a watcher', () => {
  it('/start when everything has started; /healthz shows the last ping', async () => {
    const seen: { method: string; url: string; body: string }[] = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body });
        res.end('OK');
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    root = await tempDir('hcp-heartbeat-');
    await writeHosts(path.join(root, 'hosts'), { n1: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  app: {}\n' });
    running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: path.join(root, 'home'), HOSTS_DIR: path.join(root, 'hosts'), HEARTBEAT_URL: `http://127.0.0.1:${port}/ping/uuid-1` }), memoryLogger().log);
    await waitFor(() => seen.length > 0, { what: 'the start ping' });
    expect(seen[0]).toEqual({ method: 'POST', url: '/ping/uuid-1/start', body: 'started' });
    const health = await waitFor(async () => {
      const h = (await (await fetch(`${running!.address}/healthz`)).json()) as { heartbeat: { last_status: string | null } };
      return h.heartbeat.last_status === 'start' ? h : undefined;
    }, { what: 'healthz heartbeat' });
    expect(health.heartbeat).toMatchObject({ last_status: 'start', last_at: expect.any(String) });
  });

  it('a HEARTBEAT_URL that is not a URL, or a kind we do not speak, is refused naming the variable', () => {
    expect(() => loadConfig({ HEARTBEAT_URL: 'hc-ping.com/uuid' })).toThrow(ConfigError);
    expect(() => loadConfig({ HEARTBEAT_URL: 'hc-ping.com/uuid' })).toThrow(/HEARTBEAT_URL/);
    expect(() => loadConfig({ HEARTBEAT_URL: 'https://hc-ping.com/uuid', HEARTBEAT_KIND: 'nagios' })).toThrow(/HEARTBEAT_KIND/);
    expect(loadConfig({ HEARTBEAT_URL: 'https://kuma.lan/api/push/abc?status=up' }).heartbeat).toMatchObject({ kind: 'kuma', intervalMs: 60_000 });
    expect(loadConfig({}).heartbeat).toBeUndefined();
  });
});
