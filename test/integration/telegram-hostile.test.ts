// The bot under hostile or broken conditions: forged button data and strangers' commands, the Bot
// API down or rate limiting for a long stretch, and forced errors that must not leak the token.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Running } from '../../src/main.js';
import { ActionStore } from '../../src/store/actions.js';
import type { Layout } from '../../src/store/paths.js';
import { botEnv, FakeBotApi, TEST_BOT, type StoredMessage } from '../support/bot-api.js';
import { controlPlaneFixture, type ControlPlaneFixture } from '../support/control-plane.js';
import { appendEvents, memoryLogger, waitFor, writeHosts, type Ev } from '../support/helpers.js';
import { mulberry32, report, scale } from '../support/soak.js';

const TOKEN = TEST_BOT.token;
const TOKEN_RE = /\d{6,12}:[A-Za-z0-9_-]{30,}/;
const CHAT = TEST_BOT.chat;
const ADMIN = TEST_BOT.admin;
const STRANGER = TEST_BOT.stranger;

let root: string;
let hosts: string;
let l: Layout;
let api: FakeBotApi;
let running: Running | undefined;
let mem: ReturnType<typeof memoryLogger>;
let f: ControlPlaneFixture;

beforeEach(async () => {
  f = await controlPlaneFixture('hcp-tg-hostile-');
  ({ root, hosts, l } = f);
  const yaml = (n: number) => `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${Array.from({ length: n }, (_, i) => `  s${i + 1}: {}`).join('\n')}\n`;
  await writeHosts(hosts, { n1: yaml(8), n2: yaml(8), n3: yaml(8) });
  const ts = new Date().toISOString();
  const healthy: Ev[] = [];
  for (const node of ['n1', 'n2', 'n3']) {
    healthy.push({ ts, node, type: 'node_heartbeat' });
    for (let i = 1; i <= 8; i++) healthy.push({ ts, node, type: 'service_healthy', service: `s${i}` });
  }
  await appendEvents(l.root, healthy);
  api = await new FakeBotApi(TOKEN).start();
});
afterEach(async () => {
  running = undefined;
  await f.cleanup();
  await api.close();
  // As strict as the real Bot API: any refusal the test did not cause is a defect.
  expect(api.unexpectedRefusals()).toEqual([]);
});

async function start(extra: Record<string, string> = {}) {
  running = await f.start({ ...botEnv(api), ...extra }, { paused: ['executor'] });
  mem = f.mem;
}

const drift = (node: string, service: string, type = 'containers_not_running') => appendEvents(l.root, [{ ts: new Date().toISOString(), node, type, service }]);

/** Everything a press or a command could change: action files and the supervisor's state. */
async function stateDigest(): Promise<string> {
  const h = createHash('sha256');
  const walk = async (dir: string, skip: (rel: string) => boolean, rel = ''): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true }).catch(() => [])).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = path.join(rel, e.name);
      if (skip(r)) continue;
      if (e.isDirectory()) await walk(path.join(dir, e.name), skip, r);
      else h.update(`${r}\n`).update(await readFile(path.join(dir, e.name)));
    }
  };
  await walk(l.actions, () => false);
  // The outbox, the checkpoint and the pid file change with any traffic; the rest must not.
  await walk(l.state, (r) => r.startsWith('telegram') || r.startsWith('outbox') || r === 'observer_checkpoint.json' || r === 'control-plane.pid');
  return h.digest('hex');
}

function forgedData(r: () => number, i: number): string {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const randomText = (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
  const refs = randomText(12, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-');
  switch (i % 8) {
    case 0:
      return `${pick(['ap', 'rj', 'cf', 'bk', 'sr', 'ga', 'gr', 'gs', 'rc', 'xx', 'AP'])}:${refs}`;
    case 1:
      return randomText(Math.floor(r() * 80), 'abc:/.-_%$ \u00e9\u4e2d\ud83d\ude00\u0000\n');
    case 2:
      return `ap:${'A'.repeat(20 + Math.floor(r() * 60))}`;
    case 3:
      return pick(['ap:../../etc/passwd', 'ap:container-restart-n1-s1', 'ap:*', 'ap:%00', 'rj:', ':', 'ap', '{"op":"ap"}', 'ap:AAAA:BBBB']);
    case 4:
      return `${randomText(2, 'abcdefghijklmnopqrstuvwxyz')}:${refs}`;
    case 5:
      return JSON.stringify({ a: 'ap', id: 'container-restart-n1-s1', i });
    case 6:
      return `sr:${refs}`;
    default:
      return randomText(64, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789');
  }
}

describe('hostile input to the bot', () => {
  it(`forged callback data and strangers' presses and commands change nothing`, async () => {
    // 7 of 8 presses carry forged data (the 8th: a stranger pressing a real button).
    const N = scale(1200, 10_000);
    await start();
    await drift('n1', 's1');
    await drift('n2', 's2', 'healthcheck_failed');
    const m1 = await waitFor(() => api.chat(CHAT).find((m) => m.text.includes('container-restart-n1-s1')), { what: 'first message' });
    const m2 = await waitFor(() => api.chat(CHAT).find((m) => m.text.includes('redeploy-n2-s2')), { what: 'second message' });
    // A silence exists, so forged "remove silence" presses have something to hit.
    api.userMessage(CHAT, ADMIN, '/silence n3 2h maintenance');
    await waitFor(async () => (await readFile(path.join(l.state, 'silences.json'), 'utf8').catch(() => '')).includes('n3'), { what: 'silence' });
    await waitFor(() => api.allConsumed(), { what: 'updates consumed' });
    await waitFor(async () => (await readdir(l.actionDir('pending'))).length === 2, { what: 'two pending' });
    const before = await stateDigest();

    const r = mulberry32(777);
    const realData = [m1, m2].flatMap((m: StoredMessage) => (m.reply_markup?.inline_keyboard ?? []).flat().flatMap((b) => (b.callback_data === undefined ? [] : [b.callback_data])));
    const pressed: string[] = [];
    let forged = 0;
    let strangerPresses = 0;
    let strangerRealPresses = 0;
    let forgedValues = 0;
    let strangerCommands = 0;
    for (let i = 0; i < N; i++) {
      const target = i % 2 ? m1 : m2;
      if (i % 4 === 3) {
        // A stranger presses the real buttons (and forged ones).
        pressed.push(api.press(target.message_id, i % 8 === 3 ? realData[i % realData.length]! : forgedData(r, i), STRANGER));
        strangerPresses++;
        if (i % 8 === 3) strangerRealPresses++;
        else forgedValues++;
      } else {
        pressed.push(api.press(target.message_id, forgedData(r, i), ADMIN));
        forged++;
        forgedValues++;
      }
      if (i % 5 === 0) {
        const cmd = ['/recover', '/silence n1 1h', '/silence', '/pending', '/status', '/history', '/approve container-restart-n1-s1', '/recover cancel'][i % 8]!;
        api.userMessage(i % 10 === 0 ? CHAT : 999, i % 10 === 0 ? STRANGER : ADMIN, cmd);
        strangerCommands++;
      }
      // Keep the queue of updates short, as a real chat would be.
      if (i % 100 === 99) await waitFor(() => api.allConsumed(), { timeoutMs: 30_000, what: 'updates consumed' });
    }
    await waitFor(() => api.allConsumed() && pressed.every((id) => api.answers.has(id)), { timeoutMs: 60_000, what: 'every press answered' });
    // Any button pressed by the recover flow would have needed a confirm: press nothing more.
    expect(await stateDigest()).toBe(before);
    expect(await readdir(l.actionDir('pending'))).toHaveLength(2);
    // Well-formed presses by a stranger are refused as unauthorized (malformed ones even earlier).
    expect(running!.telegram!.stats.unauthorized).toBeGreaterThanOrEqual(strangerRealPresses);
    expect(forgedValues).toBeGreaterThanOrEqual(1000);
    report('forged_telegram_input', { forged_callback_data: forgedValues, forged_presses_by_admin: forged, presses_by_stranger: strangerPresses, stranger_presses_of_real_buttons: strangerRealPresses, commands_from_strangers_or_other_chats: strangerCommands, answered: pressed.length, state_changed: false, failures: 0 });
  }, 300_000);

  it('the Bot API down, then 500s, then 429s: no message lost or duplicated', async () => {
    const PHASE_MS = scale(2000, 20_000);
    await start();
    await waitFor(() => api.calls.some((c) => c.method === 'getUpdates'), { what: 'polling' });
    const ids: string[] = [];
    const store = new ActionStore(l.actions);
    let k = 0;
    const more = async (count: number) => {
      for (let i = 0; i < count; i++, k++) {
        const node = ['n1', 'n2', 'n3'][k % 3]!;
        const service = `s${1 + Math.floor(k / 3)}`;
        await drift(node, service);
        ids.push(`container-restart-${node}-${service}`);
      }
    };
    await more(3);
    for (const mode of ['down', 500, 429] as const) {
      api.down(mode, PHASE_MS, 1);
      await more(3);
      // Decisions made meanwhile (in the CLI or by hand) must reach their messages later.
      const pending = await store.list('pending');
      if (pending[0]) await store.transition({ id: pending[0].id, from: 'pending', to: 'rejected', by: 'cli:test', patch: { rejected_by: { via: 'cli', name: 'test' } } });
      await new Promise((res) => setTimeout(res, PHASE_MS)); // the outage lasts this long by design
    }
    api.clearFailures();
    // The bot did run into the outage (it backs off, so not every window sees a call).
    expect(api.calls.filter((c) => c.status !== 'ok').length).toBeGreaterThan(0);
    // Every action ends up in exactly one message, showing its state now.
    await waitFor(
      async () => {
        for (const id of ids) {
          const holding = api.chat(CHAT).filter((m) => m.text.includes(id));
          if (holding.length !== 1) return false;
          const a = await store.get(id);
          if (!a) return false;
          if (a.state === 'rejected' && !/reject/i.test(holding[0]!.text)) return false;
        }
        return true;
      },
      { timeoutMs: 120_000, what: 'every action in exactly one up-to-date message' },
    );
    const texts = api.chat(CHAT).map((m) => m.text);
    expect(new Set(texts).size).toBe(texts.length);
    const failedCalls: Record<string, number> = {};
    for (const c of api.calls) if (c.status !== 'ok') failedCalls[String(c.status || 'dropped')] = (failedCalls[String(c.status || 'dropped')] ?? 0) + 1;
    report('bot_api_outage', { phases: ['connection dropped', '500', '429 retry_after 1'], seconds_per_phase: PHASE_MS / 1000, actions: ids.length, messages: texts.length, failed_calls_meanwhile: failedCalls, lost: 0, duplicated: 0, failures: 0 });
  }, 400_000);

  it('the token appears in no log line, page, API answer or message under forced errors', async () => {
    const seen: string[] = [];
    const checkEverything = async () => {
      const r = running!;
      for (const url of ['/', '/summary', '/ai-context', '/actions?state=pending', '/actions?state=failed', '/metrics', '/healthz', '/world/services.json', '/world/nodes.json']) {
        seen.push(await (await fetch(`${r.address}${url}`)).text());
      }
      seen.push(mem.text());
      seen.push(JSON.stringify(api.calls.map((c) => c.params)));
      for (const s of ['pending', 'failed', 'rejected']) for (const n of await readdir(l.actionDir(s as never))) seen.push(await readFile(path.join(l.actionDir(s as never), n), 'utf8'));
    };
    // 1. DNS failure: the API root does not resolve.
    await start({ TELEGRAM_API_ROOT: 'http://api.telegram.invalid' });
    await drift('n1', 's1');
    await waitFor(() => /telegram|bot/i.test(mem.text()) && /ENOTFOUND|EAI_AGAIN|getaddrinfo|fetch failed|network/i.test(mem.text()), { timeoutMs: 30_000, what: 'a DNS error logged' });
    await checkEverything();
    await f.stop();
    running = undefined;
    // 2. 401, 429 and 500 from the API.
    for (const code of [401, 429, 500]) {
      if (code === 401) {
        // At start, a token Telegram refuses is a configuration error naming the variable.
        api.fail('getMe', 401, 1);
        const err = await start().then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(/^TELEGRAM_BOT_TOKEN: Telegram rejected the token \(401 Unauthorized\)/);
        seen.push(err!.message, f.mem.text());
        api.clearFailures();
        // While running, a revoked token: one clear error line, every message kept, the rest goes on.
        await start();
        api.fail('sendMessage', 401, 3);
        await drift('n2', `s${code % 7}`);
        await waitFor(() => running!.telegram!.outbox.health.state === 'unauthorized', { timeoutMs: 30_000, what: 'the outbox to see the 401' });
        expect(mem.text().match(/TELEGRAM_BOT_TOKEN was revoked/g)).toHaveLength(1);
        const health = await (await fetch(`${running!.address}/healthz`)).json();
        expect(health.telegram).toMatchObject({ state: 'unauthorized' });
        expect(running!.telegram!.outbox.pending().length).toBeGreaterThan(0);
      } else {
        api.fail('*', code, 3, 1);
        await start();
        await drift('n2', `s${code % 7}`);
        await waitFor(() => api.calls.filter((c) => c.status === code).length >= 3, { timeoutMs: 30_000, what: `three ${code} answers` });
        // After the errors, the bot goes on.
        await waitFor(() => api.callsOf('sendMessage').length > 0, { timeoutMs: 30_000, what: `the bot past the ${code}s` });
      }
      await checkEverything();
      await f.stop();
      running = undefined;
      api.clearFailures();
    }
    const leaks = seen.filter((t) => TOKEN_RE.test(t) || t.includes(TOKEN.split(':')[1]!));
    expect(leaks.map((t) => t.slice(0, 300))).toEqual([]);
    report('token_leaks', { errors_forced: ['DNS failure', '401', '429', '500'], texts_checked: seen.length, leaks: leaks.length, failures: leaks.length });
  }, 300_000);
});
