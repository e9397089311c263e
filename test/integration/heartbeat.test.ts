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

describe('heartbeat while Telegram answers 502 (a real outbox against the Bot API stand-in, on a fake clock)', () => {
  for (const kind of ['healthchecks', 'kuma'] as const) {
    it(`${kind}: success while a message waits under 2 minutes, /fail with the reason after, success again once it is delivered`, async () => {
      const { Api } = await import('grammy');
      const { FakeBotApi, TEST_BOT } = await import('../support/bot-api.js');
      const { Outbox } = await import('../../src/bot/outbox.js');
      const { grammyTransport } = await import('../../src/bot/transport.js');
      const { Heartbeat } = await import('../../src/loops/heartbeat.js');
      const { FakeClock } = await import('../../src/time/clock.js');
      const { runOutboxUntil } = await import('../support/outbox-clock.js');
      const seen: { url: string; body: string }[] = [];
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          seen.push({ url: req.url!, body });
          res.end('OK');
        });
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
      const port = (server.address() as { port: number }).port;
      const api = await new FakeBotApi(TEST_BOT.token).start();
      root = await tempDir('hcp-hb-tg-');
      const clock = new FakeClock(Date.parse('2026-05-27T14:00:00.000Z'));
      const T0 = clock.now();
      const log = memoryLogger().log;
      const outbox = new Outbox({ dir: path.join(root, 'outbox'), transport: grammyTransport(new Api(TEST_BOT.token, { apiRoot: api.url }), log), log, clock });
      const url = kind === 'kuma' ? `http://127.0.0.1:${port}/api/push/tok?status=up&msg=OK&ping=` : `http://127.0.0.1:${port}/ping/uuid-2`;
      const hb = new Heartbeat({ url, kind, intervalMs: 60_000, runners: () => [], stalledForMs: () => outbox.stalledForMs(), log, clock });
      try {
        await outbox.load();
        outbox.start();
        api.fail('sendMessage', 502, 10_000, undefined, 'Bad Gateway');
        hb.start();
        await waitFor(() => seen.length === 1, { what: 'the start ping' });
        await outbox.upsert('action:a@1', { chatId: String(TEST_BOT.chat), text: 'Restart <b>app</b>?', buttons: [], meta: { kind: 'action', id: 'a', instance: '1', final: false } });
        // One minute on: the message has waited 1 min (Telegram answers 502): still working.
        await runOutboxUntil(clock, outbox, T0 + 60_500);
        await waitFor(() => seen.length === 2, { what: 'the first interval ping' });
        // Three minutes on: waited over 2 min: the watcher is told, with the reason.
        await runOutboxUntil(clock, outbox, T0 + 180_500);
        await waitFor(() => seen.length === 4, { what: 'the third interval ping' });
        const said = (s: { url: string; body: string }) => (kind === 'kuma' ? decodeURIComponent(new URL(s.url, 'http://x').searchParams.get('msg') ?? '') : s.body);
        const status = (s: { url: string }) => (kind === 'kuma' ? new URL(s.url, 'http://x').searchParams.get('status') : s.url.endsWith('/fail') ? 'down' : s.url.endsWith('/start') ? 'start' : 'up');
        expect(seen.map(status)).toEqual([kind === 'kuma' ? 'up' : 'start', 'up', 'up', 'down']);
        expect(said(seen[3]!)).toMatch(/a Telegram message has waited 3 min to be delivered/);
        // Telegram answers again: the message goes out, and the next ping says all is well.
        api.clearFailures();
        await runOutboxUntil(clock, outbox, T0 + 240_500);
        await waitFor(() => seen.length === 5, { what: 'the ping after delivery' });
        expect(outbox.pending()).toEqual([]);
        expect(status(seen[4]!)).toBe('up');
        expect(api.calls.filter((c) => c.method === 'sendMessage').length).toBeGreaterThan(5);
      } finally {
        hb.stop();
        await outbox.stop();
        await api.close();
      }
    });
  }
});
