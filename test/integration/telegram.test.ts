// The real grammY bot inside `control-plane run`, against a local server that speaks the Bot API.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type Running } from '../../src/main.js';
import { FakeClock } from '../../src/time/clock.js';
import { ActionStore } from '../../src/store/actions.js';
import { UpdatesStore } from '../../src/store/updates.js';
import type { Layout } from '../../src/store/paths.js';
import { botEnv, FakeBotApi, TEST_BOT, type StoredMessage } from '../support/bot-api.js';
import { controlPlaneFixture, type ControlPlaneFixture } from '../support/control-plane.js';
import { appendEvents, memoryLogger, waitFor, writeHosts, type Ev } from '../support/helpers.js';

const TOKEN = TEST_BOT.token;
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
  f = await controlPlaneFixture('hcp-tg-');
  ({ root, hosts, l } = f);
  const services = Array.from({ length: 14 }, (_, i) => `  s${i + 1}: {}`).join('\n');
  await writeHosts(hosts, { n1: `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${services}\n` });
  // Every service starts healthy: the tests make some of them drift.
  await appendEvents(l.root, [ev('node_heartbeat'), ...Array.from({ length: 14 }, (_, i) => ev('service_healthy', `s${i + 1}`))]);
  api = await new FakeBotApi(TOKEN).start();
});
afterEach(async () => {
  running = undefined;
  await f.cleanup();
  await api.close();
  // As strict as the real Bot API: any refusal the test did not cause is a defect.
  expect(api.unexpectedRefusals()).toEqual([]);
});

async function start(opts: { executor?: boolean } = {}) {
  running = await f.start(botEnv(api), { paused: opts.executor === false ? ['executor'] : [] });
  mem = f.mem;
  await waitFor(() => api.callsOf('getUpdates').length > 0 || api.calls.some((c) => c.method === 'getUpdates'), { what: 'polling' });
}

async function restart(opts: { executor?: boolean } = {}) {
  await f.stop();
  running = undefined;
  await start(opts);
}

const now = () => new Date().toISOString();
const ev = (type: string, service?: string, node = 'n1'): Ev => ({ ts: now(), node, type, ...(service ? { service } : {}) });
const store = () => new ActionStore(l.actions);

function messageAbout(id: string): StoredMessage | undefined {
  return api.chat(CHAT).find((m) => m.text.includes(id));
}
/** The rows every pending action's message ends with: snooze, and the command to read its logs. */
const SNOOZE = ['💤 1 h', '💤 till 08:00', '💤 till it recovers', '📋 docker logs'];
function buttons(m: StoredMessage | undefined): string[] {
  return (m?.reply_markup?.inline_keyboard ?? []).flat().map((b) => b.text);
}
async function answered(cq: string): Promise<Record<string, unknown>> {
  return waitFor(() => api.answers.get(cq), { what: `answer to ${cq}` });
}
async function drift(services: [string, string][], node = 'n1') {
  await appendEvents(l.root, [ev('node_heartbeat', undefined, node), ...services.map(([s, t]) => ev(t, s, node))]);
}

describe('one living message per action', () => {
  it('pending → message with Approve/Reject → admin approves → edited → completed → edited, buttons gone', async () => {
    await start({ executor: false });
    await drift([['s1', 'containers_not_running']]);
    const id = 'container-restart-n1-s1';
    const msg = await waitFor(() => messageAbout(id), { what: 'action message' });
    expect(msg.text).toMatch(/container_restart/);
    expect(msg.text).toMatch(/risk <b>low<\/b>/);
    expect(msg.text).toMatch(/n1/);
    expect(msg.text).toMatch(/unhealthy_service/);
    expect(msg.text).toMatch(/containers_not_running/);
    expect(buttons(msg)).toEqual(['✅ Approve', '✖️ Reject', ...SNOOZE]);
    for (const b of msg.reply_markup!.inline_keyboard.flat()) if (b.callback_data !== undefined) expect(Buffer.byteLength(b.callback_data)).toBeLessThanOrEqual(64);

    const cq = api.press(msg.message_id, api.button(msg.message_id, '✅ Approve'), ADMIN);
    expect((await answered(cq)).text).toMatch(/Approved/);
    const t = api.pressTimes.get(cq)!;
    expect(t.answered! - t.pressed).toBeLessThan(1000);
    const approved = JSON.parse(await readFile(path.join(l.actionDir('approved'), `${id}.json`), 'utf8'));
    expect(approved.approved_by).toEqual({ id: ADMIN.id, name: '@oskar', via: 'telegram' });
    await waitFor(() => /Approved<\/b> by @oskar/.test(api.messages.get(msg.message_id)!.text), { what: 'approved edit' });
    expect(buttons(api.messages.get(msg.message_id))).toEqual([]);

    // The executor's part, by hand: running, then completed and verified.
    const s = store();
    await s.transition({ id, from: 'approved', to: 'running', by: 'executor', patch: { started_at: now() } });
    await waitFor(() => /Running<\/b>/.test(api.messages.get(msg.message_id)!.text), { what: 'running edit' });
    const done = await s.transition({ id, from: 'running', to: 'completed', by: 'executor', patch: { finished_at: now(), result: { containers: [{ container: 's1' }] } } });
    await s.annotate('completed', done, { verified: true, verification: { verified: true, after_s: 2 } });
    await waitFor(() => /verified healthy 2 s after/.test(api.messages.get(msg.message_id)!.text), { what: 'completed edit' });
    expect(api.messages.get(msg.message_id)!.text).toMatch(/Completed<\/b>.*restarted s1/);
    expect(api.callsOf('sendMessage').filter((c) => String(c.params.text).includes(id))).toHaveLength(1);
    // An edit into a final state carries no keyboard at all, never an empty row ([[]]).
    const edits = api.callsOf('editMessageText').filter((c) => Number(c.params.message_id) === msg.message_id);
    expect(edits.length).toBeGreaterThan(0);
    for (const e of edits) expect(JSON.stringify(e.params.reply_markup ?? null)).not.toContain('[[]]');
    expect(edits.at(-1)!.params.reply_markup).toBeUndefined();
  });

  it('a press answered after the deadline of Telegram still approves; "query is too old" is not logged as an error', async () => {
    await start({ executor: false });
    await drift([['s6', 'containers_not_running']]);
    const id = 'container-restart-n1-s6';
    const msg = await waitFor(() => messageAbout(id), { what: 'action message' });
    api.callbackDeadlineMs = -1; // every answer comes too late
    api.allowRefusals(/query is too old/);
    api.press(msg.message_id, api.button(msg.message_id, '✅ Approve'), ADMIN);
    await waitFor(() => /Approved<\/b> by @oskar/.test(api.messages.get(msg.message_id)!.text), { what: 'approved edit' });
    expect(JSON.parse(await readFile(path.join(l.actionDir('approved'), `${id}.json`), 'utf8')).approved_by).toMatchObject({ via: 'telegram' });
    expect(api.calls.some((c) => c.method === 'answerCallbackQuery' && c.status === 400)).toBe(true);
    expect(mem.lines.filter((x) => Number(x.level) >= 50)).toEqual([]);
  });

  it('a guarded action asks to Confirm; Back returns; Reject works; auto-cancel edits and removes buttons', async () => {
    await start({ executor: false });
    await drift([['s2', 'healthcheck_failed'], ['s3', 'healthcheck_failed']]);
    const id2 = 'redeploy-n1-s2';
    const m2 = await waitFor(() => messageAbout(id2), { what: 'guarded message' });
    let cq = api.press(m2.message_id, api.button(m2.message_id, '✅ Approve'), ADMIN);
    expect((await answered(cq)).text).toMatch(/press Confirm/);
    await waitFor(() => buttons(api.messages.get(m2.message_id)).includes('⚠️ Confirm'), { what: 'confirm button' });
    expect(await readdir(l.actionDir('approved'))).toEqual([]);
    cq = api.press(m2.message_id, api.button(m2.message_id, '↩️ Back'), ADMIN);
    await answered(cq);
    await waitFor(() => buttons(api.messages.get(m2.message_id)).includes('✅ Approve'), { what: 'back to approve' });
    cq = api.press(m2.message_id, api.button(m2.message_id, '✅ Approve'), ADMIN);
    await answered(cq);
    await waitFor(() => buttons(api.messages.get(m2.message_id)).includes('⚠️ Confirm'), { what: 'confirm again' });
    cq = api.press(m2.message_id, api.button(m2.message_id, '⚠️ Confirm'), ADMIN);
    expect((await answered(cq)).text).toMatch(/Approved/);
    expect(await readdir(l.actionDir('approved'))).toEqual([`${id2}.json`]);

    const m3 = await waitFor(() => messageAbout('redeploy-n1-s3'), { what: 'second message' });
    cq = api.press(m3.message_id, api.button(m3.message_id, '✖️ Reject'), ADMIN);
    expect((await answered(cq)).text).toBe('Rejected.');
    await waitFor(() => /Rejected<\/b> by @oskar/.test(api.messages.get(m3.message_id)!.text), { what: 'rejected edit' });
    expect(buttons(api.messages.get(m3.message_id))).toEqual([]);

    await drift([['s4', 'containers_not_running']]);
    const m4 = await waitFor(() => messageAbout('container-restart-n1-s4'), { what: 'third message' });
    await appendEvents(l.root, [ev('service_healthy', 's4')]);
    const sends = api.callsOf('sendMessage').length;
    await waitFor(() => /Recovered by itself<\/b> at \d\d:\d\d UTC: nothing was done/.test(api.messages.get(m4.message_id)!.text), { what: 'recovered edit' });
    expect(buttons(api.messages.get(m4.message_id))).toEqual([]);
    // Quiet by design: the recovery is an edit of the same message, never a new one.
    await running!.telegram!.outbox.whenIdle();
    expect(api.callsOf('sendMessage').length).toBe(sends);
  });

  it('non-admin, forged data, double press and a press after restart change nothing and are answered', async () => {
    await start({ executor: false });
    await drift([['s5', 'containers_not_running']]);
    const id = 'container-restart-n1-s5';
    const m = await waitFor(() => messageAbout(id), { what: 'message' });
    const approve = api.button(m.message_id, '✅ Approve');
    let cq = api.press(m.message_id, approve, STRANGER);
    expect(await answered(cq)).toMatchObject({ show_alert: true, text: expect.stringMatching(/Not authorized/) });
    expect(await readdir(l.actionDir('approved'))).toEqual([]);
    expect(mem.lines.some((x) => x.user === STRANGER.id && /not in TELEGRAM_ADMIN_IDS/.test(String(x.msg)))).toBe(true);
    for (const forged of ['ap:AAAAAAAAAAAA', 'xx', 'ap:../../etc', `ap:${'A'.repeat(60)}`, '']) {
      cq = api.press(m.message_id, forged, ADMIN);
      expect((await answered(cq)).text).toMatch(/not valid/);
    }
    expect(await readdir(l.actionDir('pending'))).toEqual([`${id}.json`]);
    cq = api.press(m.message_id, approve, ADMIN);
    await answered(cq);
    cq = api.press(m.message_id, approve, ADMIN);
    expect((await answered(cq)).text).toBe('Nothing changed: this action is approved now.');
    await restart({ executor: false });
    // (The executor may take it in the moment before the test stops it: then it is running,
    // or already failed, since the test engine does not exist.)
    cq = api.press(m.message_id, approve, ADMIN);
    expect((await answered(cq)).text).toMatch(/^Nothing changed: this action is (approved|running|failed) now\.$/);
    // (If the executor took it, wait until it has finished moving to failed/: it first waits up to
    // 5 s for the inspector's evidence, whose engine call has a 10 s deadline — on a loaded machine
    // longer than waitFor's default.)
    const history = await waitFor(async () => {
      const h = await store().history(id);
      return h.length === 1 && h[0]!.state !== 'running' ? h : undefined;
    }, { what: 'the action at rest', timeoutMs: 30_000 }).catch(async (err: Error) => {
      // Say what was there instead: each instance with its transitions.
      const h = (await store().history(id)).map((a) => `${a.instance}: ${a.history.map((x) => `${x.state}@${x.at.slice(11)} by ${x.by}`).join(', ')}`);
      throw new Error(`${err.message}; instances: ${h.join(' | ')}`);
    });
    expect(history[0]!.history.map((h) => h.state).slice(0, 2)).toEqual(['pending', 'approved']);
    expect(history[0]!.history.filter((h) => h.state === 'approved')).toHaveLength(1);
  });

  it('a restart with 5 pending actions already messaged sends nothing new; later changes edit the old messages', async () => {
    await start({ executor: false });
    for (let i = 1; i <= 5; i++) {
      await drift([[`s${i}`, 'containers_not_running']]);
      await waitFor(() => messageAbout(`container-restart-n1-s${i}`), { timeoutMs: 10_000, what: `message ${i}` });
    }
    await running!.telegram!.outbox.whenIdle();
    // One at a time on one node: three messages of their own, then the burst folds into a group.
    const sent = api.callsOf('sendMessage').length;
    expect(sent).toBe(4);
    expect(api.chat(CHAT).filter((m) => /2 actions on n1/.test(m.text))).toHaveLength(1);
    await restart({ executor: false });
    await running!.telegram!.loop.runNow();
    await running!.loops.supervisor.runNow();
    await running!.telegram!.loop.runNow();
    await running!.telegram!.outbox.whenIdle();
    expect(api.callsOf('sendMessage')).toHaveLength(sent);
    await appendEvents(l.root, [ev('service_healthy', 's3')]);
    const m3 = messageAbout('container-restart-n1-s3')!;
    await waitFor(() => /Recovered by itself/.test(api.messages.get(m3.message_id)!.text), { what: 'edit after restart' });
    expect(api.callsOf('sendMessage')).toHaveLength(sent);
  });

  it('429 with retry_after, then 500 for a while: every message delivered once, in order per action', async () => {
    api.fail('sendMessage', 429, 1, 1);
    api.fail('*', 500, 4);
    await start({ executor: false });
    await drift([['s6', 'containers_not_running'], ['s7', 'healthcheck_failed']]);
    await waitFor(() => messageAbout('container-restart-n1-s6') && messageAbout('redeploy-n1-s7'), { timeoutMs: 30_000, what: 'both delivered' });
    await store().transition({ id: 'container-restart-n1-s6', from: 'pending', to: 'rejected', by: 'cli:x', patch: { rejected_by: { via: 'cli', name: 'x' } } });
    api.fail('editMessageText', 500, 2);
    const m6 = messageAbout('container-restart-n1-s6')!;
    await waitFor(() => /Rejected/.test(api.messages.get(m6.message_id)!.text), { timeoutMs: 30_000, what: 'edit after 500s' });
    const sends = api.callsOf('sendMessage').map((c) => String(c.params.text));
    expect(sends.filter((t) => t.includes('container-restart-n1-s6'))).toHaveLength(1);
    expect(sends.filter((t) => t.includes('redeploy-n1-s7'))).toHaveLength(1);
    expect(api.calls.filter((c) => c.status === 429).length).toBe(1);
    expect(api.calls.filter((c) => c.status === 500).length).toBeGreaterThanOrEqual(4);
    // The call after the 429 waited at least retry_after.
    const i429 = api.calls.findIndex((c) => c.status === 429);
    const nextSend = api.calls.slice(i429 + 1).find((c) => c.method === 'sendMessage');
    expect(nextSend!.at - api.calls[i429]!.at).toBeGreaterThanOrEqual(990);
    expect(running!.telegram!.outbox.stats.rate_limited).toBe(1);
  }, 60_000);

  it('a burst of 12: the first is sent at once, the rest fold into one group; "Approve all low-risk" and "Show each" (one list message)', async () => {
    await start({ executor: false });
    const burst: [string, string][] = [];
    for (let i = 1; i <= 12; i++) burst.push([`s${i}`, i % 3 === 0 ? 'healthcheck_failed' : 'containers_not_running']);
    await drift(burst);
    const group = await waitFor(() => api.chat(CHAT).find((m) => /\d+ actions on n1<\/b> became pending together/.test(m.text)), { what: 'group message' });
    await waitFor(() => (api.messages.get(group.message_id)!.text.match(/<code>/g) ?? []).length + api.chat(CHAT).filter((m) => m.message_id !== group.message_id).length === 12, { what: 'all 12 shown' });
    await running!.telegram!.outbox.whenIdle();
    // At most three messages of their own (those seen before the burst was), then one group.
    expect(api.callsOf('sendMessage').length).toBeLessThanOrEqual(4);
    expect(buttons(group)).toEqual(['✅ Approve all low-risk', '✖️ Reject all', '🔍 Show each']);
    const inGroup = [...api.messages.get(group.message_id)!.text.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => m[1]!);
    const low = inGroup.filter((id) => id.startsWith('container-restart-'));
    const cq = api.press(group.message_id, api.button(group.message_id, '✅ Approve all low-risk'), ADMIN);
    expect((await answered(cq)).text).toBe(`Approved ${low.length} action(s).`);
    const approved = (await readdir(l.actionDir('approved'))).sort();
    expect(approved).toEqual(low.map((id) => `${id}.json`).sort());
    await waitFor(() => /Approved<\/b> by @oskar/.test(api.messages.get(group.message_id)!.text), { what: 'group edited' });
    const before = api.callsOf('sendMessage').length;
    const show = api.press(group.message_id, api.button(group.message_id, '🔍 Show each'), ADMIN);
    await answered(show);
    const list = await waitFor(() => api.chat(CHAT).find((m) => /actions on n1<\/b>: page 1 of/.test(m.text)), { what: 'the list' });
    await running!.telegram!.outbox.whenIdle();
    expect(api.callsOf('sendMessage').length).toBe(before + 1);
    expect(list.text.match(/<code>/g)!.length).toBe(Math.min(10, inGroup.length));
  }, 60_000);

  it('/pending with 58 pending: one message, counts by node and type, the oldest 5 with buttons; Show each pages in place; a guarded one confirms in the list', async () => {
    const services = Array.from({ length: 58 }, (_, i) => `  s${i + 1}: {}`).join('\n');
    await writeHosts(hosts, { n1: `docker:\n  socket: /nonexistent/docker.sock\nservices:\n${services}\n` });
    await appendEvents(l.root, Array.from({ length: 58 }, (_, i) => ev('service_healthy', `s${i + 1}`)));
    await start({ executor: false });
    const burst: [string, string][] = Array.from({ length: 58 }, (_, i) => [`s${i + 1}`, i % 4 === 0 ? 'healthcheck_failed' : 'containers_not_running']);
    await drift(burst);
    await waitFor(async () => (await readdir(l.actionDir('pending'))).length === 58, { what: '58 pending' });
    await running!.telegram!.loop.runNow();
    await running!.telegram!.outbox.whenIdle();
    const before = api.callsOf('sendMessage').length;
    api.userMessage(CHAT, ADMIN, '/pending');
    const list = await waitFor(() => api.chat(CHAT).find((m) => /Pending<\/b>: 58 pending/.test(m.text)), { what: 'the /pending list' });
    await running!.telegram!.outbox.whenIdle();
    expect(api.callsOf('sendMessage').length).toBe(before + 1);
    expect(list.text).toMatch(/By node: n1 58/);
    expect(list.text).toMatch(/By type: container_restart 43 · redeploy 15/);
    expect(list.reply_markup!.inline_keyboard.flat().length).toBeLessThanOrEqual(100);
    expect(buttons(list)).toContain('✅ Approve all low-risk (43)');
    expect(buttons(list)).toContain('🔍 Show each (6 pages of 10)');

    let cq = api.press(list.message_id, api.button(list.message_id, /Show each/), STRANGER);
    await answered(cq);
    await waitFor(() => /page 1 of 6/.test(api.messages.get(list.message_id)!.text), { what: 'page 1, in place' });
    cq = api.press(list.message_id, api.button(list.message_id, 'Next ▶️'), ADMIN);
    await answered(cq);
    await waitFor(() => /page 2 of 6/.test(api.messages.get(list.message_id)!.text), { what: 'page 2' });
    // A guarded action on this page: Approve asks to Confirm in the list, Confirm approves it.
    const guarded = buttons(api.messages.get(list.message_id)).find((t) => t.startsWith('🛡'))!;
    const service = guarded.slice(3);
    cq = api.press(list.message_id, api.button(list.message_id, guarded), ADMIN);
    expect((await answered(cq)).text).toMatch(/press Confirm/);
    await waitFor(() => buttons(api.messages.get(list.message_id)).includes(`⚠️ Confirm ${service}`), { what: 'Confirm in the list' });
    expect(await readdir(l.actionDir('approved'))).toEqual([]);
    cq = api.press(list.message_id, api.button(list.message_id, `⚠️ Confirm ${service}`), ADMIN);
    expect((await answered(cq)).text).toMatch(/Approved/);
    expect(await readdir(l.actionDir('approved'))).toEqual([`redeploy-n1-${service}.json`]);
    await running!.telegram!.outbox.whenIdle();
    expect(api.callsOf('sendMessage').length).toBe(before + 1);
  }, 60_000);

  it('a group with its window taken by queued messages: a command is still answered within a second', async () => {
    const GROUP = -1009876543210;
    running = await f.start({ ...botEnv(api), TELEGRAM_CHAT_ID: String(GROUP) }, { paused: ['executor'] });
    await waitFor(() => api.callsOf('getUpdates').length > 0, { what: 'polling' });
    // 30 background messages for the group (a burst of actions folds into one message now, so the
    // window is filled directly): 15 calls go at once, the rest wait for the window.
    const outbox = running.telegram!.outbox;
    for (let i = 0; i < 30; i++) await outbox.upsert(`notice:load-${i}`, { chatId: String(GROUP), text: `notice ${i}`, buttons: [], meta: { kind: 'notice', notice: `load-${i}`, node: 'n1', final: true } });
    const counted = () => api.calls.filter((c) => (c.method === 'sendMessage' || c.method === 'editMessageText') && Number(c.params.chat_id) === GROUP && c.status === 'ok').length;
    await waitFor(() => counted() >= 15, { what: 'the first 15 calls' });
    await waitFor(() => outbox.pending().length >= 10, { what: 'a queue' });
    const t0 = Date.now();
    api.userMessage(GROUP, ADMIN, '/status');
    await waitFor(() => api.chat(GROUP).some((m) => /Homelab status/.test(m.text)), { what: 'the answer' });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(outbox.pending().length).toBeGreaterThanOrEqual(10);
  }, 30_000);
});

describe('nothing is lost', () => {
  it('a message that could not be sent before a restart is sent once after it', async () => {
    api.fail('sendMessage', 500, 1000);
    await start({ executor: false });
    await drift([['s9', 'containers_not_running']]);
    await waitFor(() => api.calls.filter((c) => c.method === 'sendMessage' && c.status === 500).length >= 2, { what: 'failed attempts' });
    await f.stop();
    running = undefined;
    api.clearFailures();
    await start({ executor: false });
    const m = await waitFor(() => messageAbout('container-restart-n1-s9'), { what: 'delivered after restart' });
    expect(buttons(m)).toEqual(['✅ Approve', '✖️ Reject', ...SNOOZE]);
    await running!.telegram!.outbox.whenIdle();
    expect(api.callsOf('sendMessage').filter((c) => String(c.params.text).includes('container-restart-n1-s9'))).toHaveLength(1);
  });
});

describe('notices', () => {
  it('a silent node is announced once and the message is edited when it reports again; a held removal has a Confirm button', async () => {
    await writeHosts(hosts, { n2: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n  db: {}\n  cache: {}\n' });
    await start({ executor: false });
    const notice = await waitFor(() => api.chat(CHAT).find((m) => /Node agent silent/.test(m.text) && /n2/.test(m.text)), { what: 'silent notice' });
    await running!.loops.supervisor.runNow();
    await running!.telegram!.loop.runNow();
    expect(api.chat(CHAT).filter((m) => /Node agent silent/.test(m.text))).toHaveLength(1);
    await appendEvents(l.root, [ev('node_heartbeat', undefined, 'n2'), ev('service_healthy', 'web', 'n2'), ev('service_healthy', 'db', 'n2'), ev('service_healthy', 'cache', 'n2')]);
    await waitFor(() => /Resolved at/.test(api.messages.get(notice.message_id)!.text), { what: 'notice resolved' });

    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(hosts, 'n2', 'services.yaml'), 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n');
    const held = await waitFor(() => api.chat(CHAT).find((m) => /Bulk removal held/.test(m.text)), { what: 'held notice' });
    expect(buttons(held)).toEqual(['✅ Confirm removal']);
    let cq = api.press(held.message_id, api.button(held.message_id, '✅ Confirm removal'), STRANGER);
    expect((await answered(cq)).text).toMatch(/Not authorized/);
    cq = api.press(held.message_id, api.button(held.message_id, '✅ Confirm removal'), ADMIN);
    expect((await answered(cq)).text).toBe('Removal on n2 confirmed.');
    await waitFor(() => /Resolved at/.test(api.messages.get(held.message_id)!.text), { what: 'held notice resolved' });
  });
});

describe('snooze from a message', () => {
  it('💤 1 h: admins only; cancels the action (cancelled_by_snooze) as a silence; ⏰ Unsnooze proposes it again at once', async () => {
    await start({ executor: false });
    await drift([['s1', 'containers_not_running']]);
    const id = 'container-restart-n1-s1';
    const msg = await waitFor(() => messageAbout(id), { what: 'action message' });
    let cq = api.press(msg.message_id, api.button(msg.message_id, '💤 1 h'), STRANGER);
    expect((await answered(cq)).text).toMatch(/Not authorized/);
    cq = api.press(msg.message_id, api.button(msg.message_id, '💤 1 h'), ADMIN);
    expect((await answered(cq)).text).toMatch(/^💤 Snoozed n1\/s1 until \d\d:\d\d UTC\.$/);
    const cancelled = (await store().list('cancelled')).find((a) => a.id === id)!;
    expect(cancelled).toMatchObject({ cancel_reason: 'cancelled_by_snooze', snooze: { recover: false, by: '@oskar' } });
    const silences = await running!.supervisorState.activeSilences(Date.now());
    expect(silences).toEqual([expect.objectContaining({ target: 'n1/s1', by: 'telegram:@oskar', snooze: { message: `${id}@${cancelled.instance}`, recover: false } })]);
    await waitFor(() => /💤 <b>Snoozed<\/b> until \d\d:\d\d UTC by @oskar/.test(api.messages.get(msg.message_id)!.text), { what: 'snoozed edit' });
    expect(buttons(api.messages.get(msg.message_id))).toEqual(['⏰ Unsnooze']);
    // While it lasts, the drift is not proposed again.
    await running!.loops.supervisor.runNow();
    expect(await store().list('pending')).toEqual([]);
    // The button still works after a restart (its reference is on disk).
    await restart({ executor: false });
    await running!.loops.supervisor.runNow();
    expect(await store().list('pending')).toEqual([]);
    cq = api.press(msg.message_id, api.button(msg.message_id, '⏰ Unsnooze'), ADMIN);
    expect((await answered(cq)).text).toMatch(/Unsnoozed/);
    expect(await running!.supervisorState.activeSilences(Date.now())).toEqual([]);
    await waitFor(() => /unsnoozed at .* by @oskar/.test(api.messages.get(msg.message_id)!.text), { what: 'unsnoozed edit' });
    const again = await waitFor(() => api.chat(CHAT).filter((m) => m.text.includes(id)).find((m) => m.message_id !== msg.message_id), { what: 'proposed again' });
    expect(buttons(again)).toEqual(['✅ Approve', '✖️ Reject', ...SNOOZE]);
  });

  it('💤 on a notice: a silence of its node; the notice says snoozed, with Unsnooze; till it recovers ends with the notice', async () => {
    await writeHosts(hosts, { n2: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n' });
    await start({ executor: false });
    const notice = await waitFor(() => api.chat(CHAT).find((m) => /Node agent silent/.test(m.text) && /n2/.test(m.text)), { what: 'silent notice' });
    expect(buttons(notice)).toEqual(SNOOZE.slice(0, 3));
    let cq = api.press(notice.message_id, api.button(notice.message_id, '💤 till it recovers'), ADMIN);
    expect((await answered(cq)).text).toBe('💤 Snoozed n2 until it recovers.');
    expect(await running!.supervisorState.activeSilences(Date.now())).toEqual([expect.objectContaining({ target: 'n2', snooze: { message: 'notice:node-silent-n2', recover: true } })]);
    await running!.telegram!.loop.runNow();
    await waitFor(() => /Snoozed<\/b> until it recovers by @oskar/.test(api.messages.get(notice.message_id)!.text), { what: 'snoozed notice' });
    expect(buttons(api.messages.get(notice.message_id))).toEqual(['⏰ Unsnooze']);
    cq = api.press(notice.message_id, api.button(notice.message_id, '⏰ Unsnooze'), ADMIN);
    expect((await answered(cq)).text).toBe('⏰ Unsnoozed.');
    await running!.telegram!.loop.runNow();
    await waitFor(() => buttons(api.messages.get(notice.message_id)).includes('💤 1 h'), { what: 'snooze buttons back' });
    // Snoozed again until it recovers: the node reports, the notice closes, the snooze is lifted.
    cq = api.press(notice.message_id, api.button(notice.message_id, '💤 till it recovers'), ADMIN);
    await answered(cq);
    await appendEvents(l.root, [ev('node_heartbeat', undefined, 'n2'), ev('service_healthy', 'web', 'n2')]);
    await running!.loops.observer.runNow();
    await running!.loops.supervisor.runNow();
    await running!.loops.supervisor.runNow();
    expect(await running!.supervisorState.activeSilences(Date.now())).toEqual([]);
    await waitFor(() => /Resolved at/.test(api.messages.get(notice.message_id)!.text), { what: 'notice resolved' });
  });

  it('💤 till it recovers: lifted when the service reports healthy; a later drift is proposed', async () => {
    await start({ executor: false });
    await drift([['s2', 'containers_not_running']]);
    const id = 'container-restart-n1-s2';
    const msg = await waitFor(() => messageAbout(id), { what: 'action message' });
    const cq = api.press(msg.message_id, api.button(msg.message_id, '💤 till it recovers'), ADMIN);
    expect((await answered(cq)).text).toBe('💤 Snoozed n1/s2 until it recovers.');
    await waitFor(() => /Snoozed<\/b> until it recovers by @oskar/.test(api.messages.get(msg.message_id)!.text), { what: 'snoozed edit' });
    await appendEvents(l.root, [ev('service_recovered', 's2')]);
    await running!.loops.observer.runNow();
    await running!.loops.supervisor.runNow();
    expect(await running!.supervisorState.activeSilences(Date.now())).toEqual([]);
    expect((await store().list('cancelled')).find((a) => a.id === id)?.snooze).toMatchObject({ unsnoozed_by: 'its recovery' });
  });
});

describe('a failure makes a sound', () => {
  it('a failed action: its message is edited, and one short message of its own says it failed (once, across passes)', async () => {
    await start({ executor: false });
    await drift([['s8', 'containers_not_running']]);
    const id = 'container-restart-n1-s8';
    const msg = await waitFor(() => messageAbout(id), { what: 'action message' });
    const s = store();
    await s.transition({ id, from: 'pending', to: 'approved', by: 'test' });
    await s.transition({ id, from: 'approved', to: 'running', by: 'test' });
    await s.transition({ id, from: 'running', to: 'failed', by: 'test', patch: { error: 'cannot reach n1\'s Docker Engine' } });
    await running!.telegram!.loop.runNow();
    const note = await waitFor(() => api.chat(CHAT).find((m) => m.text.startsWith('❌ <b>Restart s8 on n1 failed</b>')), { what: 'failure note' });
    expect(note.text).toContain("cannot reach n1's Docker Engine");
    expect(note.disable_notification).toBeUndefined();
    await waitFor(() => /Failed<\/b>/.test(api.messages.get(msg.message_id)!.text), { what: 'the message edited' });
    await running!.telegram!.loop.runNow();
    await running!.telegram!.outbox.whenIdle();
    expect(api.chat(CHAT).filter((m) => m.text.startsWith('❌'))).toHaveLength(1);
  });
});

describe('the polling watchdog', () => {
  it('a long poll that never returns is restarted after 3× its timeout; polling works again', async () => {
    running = await f.start({ ...botEnv(api), TELEGRAM_POLL_TIMEOUT_S: '1' });
    await waitFor(() => api.callsOf('getUpdates').length > 0, { what: 'polling' });
    api.hangPolls = true;
    await waitFor(() => running!.telegram!.pollingHealth.restarts > 0, { timeoutMs: 20_000, what: 'a restart' });
    expect(f.mem.text()).toMatch(/Telegram polling has not completed a getUpdates for \d+ s: restarting it/);
    const health = (await (await fetch(`${running.address}/healthz`)).json()) as { telegram: { polling: { restarts: number } } };
    expect(health.telegram.polling.restarts).toBeGreaterThan(0);
    expect(await (await fetch(`${running.address}/metrics`)).text()).toMatch(/homelab_telegram_poll_restarts_total [1-9]/);
    api.answerPolls();
    api.userMessage(CHAT, ADMIN, '/status');
    await waitFor(() => api.chat(CHAT).some((m) => m.text.startsWith('📊')), { timeoutMs: 20_000, what: 'a command answered again' });
  });
});

describe('start and stop messages', () => {
  it('a quiet start message, a stop message, and after a gap what changed meanwhile; a crash loop is one message with a count', async () => {
    const env = { ...botEnv(api), TELEGRAM_LIFECYCLE_MESSAGES: 'on' };
    running = await f.start(env);
    const first = await waitFor(() => api.chat(CHAT).find((m) => m.text.startsWith('▶️ Control plane')), { what: 'start message' });
    expect(first.text).toBe('▶️ Control plane 0.1.0 started: 1 node(s), 14 service(s), 0 action(s) pending.');
    expect(first.disable_notification).toBe(true);
    await f.stop();
    const stop = api.chat(CHAT).find((m) => m.text.startsWith('⏹ Control plane stopping'));
    expect(stop?.disable_notification).toBe(true);
    // While it is down, s1 fails; the next start (past the 10-minute limit) says so.
    await appendEvents(l.root, [ev('containers_not_running', 's1')]);
    const { LifecycleFile } = await import('../../src/store/lifecycle-mark.js');
    const mark = new LifecycleFile(l.state);
    const back = (min: number) => new Date(Date.now() - min * 60_000).toISOString();
    await mark.write({ ...(await mark.read()), announced_at: back(11) });
    running = await f.start(env);
    const second = await waitFor(() => api.chat(CHAT).filter((m) => m.text.startsWith('▶️')).at(1), { what: 'second start message' });
    expect(second.text).toMatch(/^▶️ Control plane 0\.1\.0 started: 1 node\(s\), 14 service\(s\), \d action\(s\) pending\.\nWhile it was away \(0 min since .* UTC\):\n• n1\/s1: healthy → unhealthy \(containers_not_running\)$/);
    // Two quick restarts: no message for them; the next one allowed counts them.
    await f.stop();
    running = await f.start(env);
    await f.stop();
    running = await f.start(env);
    await running.telegram!.outbox.whenIdle();
    expect(api.chat(CHAT).filter((m) => m.text.startsWith('▶️'))).toHaveLength(2);
    expect((await mark.read()).unannounced).toBe(2);
    await f.stop();
    await mark.write({ ...(await mark.read()), announced_at: back(11) });
    running = await f.start(env);
    const third = await waitFor(() => api.chat(CHAT).filter((m) => m.text.startsWith('▶️')).at(2), { what: 'third start message' });
    expect(third.text).toContain('It started 3 times in the last minutes: is it crashing? See its log.');
  });
});

describe('maintenance in the chat', () => {
  it('one quiet notice when it starts, no other message during it, one quiet notice when it ends with what happened', async () => {
    await writeHosts(hosts, { n2: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n  db: {}\n' });
    await start({ executor: false });
    await running!.supervisorState.maintenanceWindows.add('n2', 3_600_000, Date.now(), { by: 'me', reason: 'new disk' });
    await appendEvents(l.root, [ev('node_heartbeat', undefined, 'n2'), ev('service_healthy', 'web', 'n2'), ev('containers_not_running', 'db', 'n2')]);
    await running!.loops.observer.runNow();
    await running!.loops.supervisor.runNow();
    await running!.telegram!.loop.runNow();
    const started = await waitFor(() => api.chat(CHAT).find((m) => m.text.startsWith('🛠 Maintenance: ')), { what: 'maintenance notice' });
    expect(started.text).toContain('started by me: new disk');
    expect(started.disable_notification).toBe(true);
    await running!.telegram!.outbox.whenIdle();
    expect(api.chat(CHAT).map((m) => m.text.split('\n')[0])).toEqual(['🛠 Maintenance: <b>n2</b>']);
    await running!.supervisorState.maintenanceWindows.remove('n2');
    await running!.loops.supervisor.runNow();
    await running!.telegram!.loop.runNow();
    const ended = await waitFor(() => api.chat(CHAT).find((m) => m.text.startsWith('🛠 Maintenance over')), { what: 'end notice' });
    expect(ended.text).toMatch(/Still drifting, proposed now: db \(containers_not_running/);
    expect(ended.disable_notification).toBe(true);
    await waitFor(() => /Ended at/.test(api.messages.get(started.message_id)!.text), { what: 'the start notice says it ended' });
    await waitFor(() => api.chat(CHAT).some((m) => m.text.includes('container-restart-n2-db')), { what: 'the drift proposed' });
    // The proposal makes a sound; the notices did not.
    expect(api.chat(CHAT).find((m) => m.text.includes('container-restart-n2-db'))!.disable_notification).toBeUndefined();
    await running!.loops.supervisor.runNow();
    await running!.telegram!.loop.runNow();
    await running!.telegram!.outbox.whenIdle();
    expect(api.chat(CHAT).filter((m) => m.text.startsWith('🛠 Maintenance over'))).toHaveLength(1);
  });
});

describe('commands', () => {
  it('/status, /pending, /history, /silence, /recover replay, /help and the digest', async () => {
    await writeHosts(hosts, { n2: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  web: {}\n' });
    await start({ executor: false });
    await drift([['s1', 'containers_not_running']]);
    await appendEvents(l.root, [ev('service_healthy', 's2')]);
    await waitFor(() => messageAbout('container-restart-n1-s1'), { what: 'action message' });
    // n2 never reported: its notice is sent too. Once it is out, each reply below is the only
    // message sent after its command.
    await waitFor(() => api.chat(CHAT).some((m) => /Node agent silent: <b>n2<\/b>/.test(m.text)), { what: "n2's notice" });
    await running!.telegram!.outbox.whenIdle();
    const reply = async (text: string, from = ADMIN) => {
      const before = api.callsOf('sendMessage').length;
      api.userMessage(CHAT, from, text);
      await waitFor(() => api.callsOf('sendMessage').length > before, { timeoutMs: 10_000, what: `reply to ${text}` });
      return String(api.callsOf('sendMessage').at(-1)!.params.text);
    };
    const status = await reply('/status');
    expect(status).toMatch(/Homelab status/);
    expect(status).toMatch(/🟢 <b>n1<\/b>: agent alive/);
    expect(status).toMatch(/🔴 <b>n2<\/b>: agent silent/);
    expect(status).toMatch(/n1\/s1: containers_not_running/);
    expect(status).toMatch(/Actions: 1 pending/);
    const pending = await reply('/pending');
    expect(pending).toMatch(/1 pending/);
    expect(pending).toContain('container-restart-n1-s1');
    expect(await reply('/help')).toMatch(/\/recover: .*🔑[\s\S]*🔑 changes something: only the admins/);
    // The command menu is set for this chat only.
    const commandMenu = await waitFor(() => api.callsOf('setMyCommands')[0], { what: 'setMyCommands' });
    expect(commandMenu.params.scope).toEqual({ type: 'chat', chat_id: Number(CHAT) });
    expect(await reply('/silence n1/s3 2h router swap')).toMatch(/Silenced <b>n1\/s3<\/b>.*router swap/);
    const list = await reply('/silence');
    expect(list).toMatch(/n1\/s3/);
    expect(await reply('/silence n1/s4 soon')).toMatch(/Usage/);
    expect(await reply('/silence n1/nosuch 1h')).toMatch(/Not silenced: no service "nosuch" in hosts\/n1\/services\.yaml \(services: /);
    expect(await reply('/silence n1/s3 3h')).toMatch(/Silence extended for <b>n1\/s3<\/b>/);
    expect(await reply('/silence n1 1h', STRANGER)).toMatch(/Not authorized/);
    expect((commandMenu.params.commands as { command: string }[]).map((c) => c.command)).toContain('maintenance');
    expect(await reply('/maintenance')).toMatch(/^No ad hoc maintenance\./);
    expect(await reply('/maintenance n1/s5 2h new disk')).toMatch(/^🛠 Maintenance of <b>n1\/s5<\/b> until .* UTC: new disk\.$/);
    expect(await reply('/maintenance')).toMatch(/n1\/s5<\/b> until .* by telegram:@\w+: new disk · \/maintenance stop n1\/s5/);
    expect(await reply('/maintenance n1/s5 soon')).toMatch(/^Usage: \/maintenance/);
    expect(await reply('/maintenance n9 1h')).toMatch(/^No maintenance started: no node "n9"/);
    expect(await reply('/maintenance stop n1/s5', STRANGER)).toMatch(/Not authorized/);
    expect(await reply('/maintenance stop n1/s5')).toMatch(/Maintenance of <b>n1\/s5<\/b> stopped/);
    expect(await reply('/maintenance stop n1/s5')).toBe('No ad hoc maintenance for n1/s5.');
    // An unknown command is answered; one for another bot is not ours to answer.
    expect(await reply('/stauts')).toBe('Unknown command /stauts. /help lists what this bot does.');
    const before = api.callsOf('sendMessage').length;
    api.userMessage(CHAT, ADMIN, '/start@some_other_bot');
    api.userMessage(CHAT, ADMIN, '/status');
    await waitFor(() => api.callsOf('sendMessage').length > before, { what: 'the reply to /status' });
    expect(String(api.callsOf('sendMessage').at(-1)!.params.text)).toMatch(/Homelab status/);
    expect(api.callsOf('sendMessage').length).toBe(before + 1);
    // The list shows the time left; Remove edits it: the entry and its button are gone.
    expect(await reply('/silence n2/web 30m')).toMatch(/Silenced <b>n2\/web<\/b>/);
    const listMsg = api.callsOf('sendMessage').length;
    await reply('/silence');
    const shown = [...api.messages.values()].filter((m) => m.chat_id === CHAT && /Active silences/.test(m.text)).at(-1)!;
    expect(shown.text).toMatch(/n1\/s3<\/b> until \d\d:\d\d UTC \(3h left\)/);
    expect(shown.text).toMatch(/n2\/web<\/b> until \d\d:\d\d UTC \(30m left\)/);
    const removed = api.press(shown.message_id, api.button(shown.message_id, 'Remove n2/web'), ADMIN);
    expect((await answered(removed)).text).toBe('Silence removed.');
    await waitFor(() => !/n2\/web/.test(api.messages.get(shown.message_id)!.text), { what: 'the list edited' });
    expect(buttons(api.messages.get(shown.message_id))).toEqual(['Remove n1/s3']);
    expect(api.callsOf('sendMessage').length).toBe(listMsg + 1);
    await store().transition({ id: 'container-restart-n1-s1', from: 'pending', to: 'rejected', by: 'cli:x', patch: { rejected_by: { via: 'cli', name: 'x' } } });
    expect(await reply('/history 5')).toMatch(/container-restart-n1-s1[\s\S]*Rejected/);

    // /recover → replay → confirm
    api.userMessage(CHAT, ADMIN, '/recover');
    const menu = await waitFor(() => api.chat(CHAT).find((m) => /Recover<\/b>/.test(m.text)), { what: 'recover menu' });
    let cq = api.press(menu.message_id, api.button(menu.message_id, /Replay world/), ADMIN);
    await answered(cq);
    await waitFor(() => /Replay world state from all events\?/.test(api.messages.get(menu.message_id)!.text), { what: 'confirm replay' });
    cq = api.press(menu.message_id, api.button(menu.message_id, /Yes, replay/), ADMIN);
    await answered(cq);
    await waitFor(() => /World replayed: \d+ events applied/.test(api.messages.get(menu.message_id)!.text), { what: 'replayed' });
    expect(mem.lines.some((x) => x.msg === 'replaying all events from the start, as an operator asked')).toBe(true);

    api.userMessage(CHAT, STRANGER, '/recover');
    await waitFor(() => api.chat(CHAT).some((m) => /Not authorized/.test(m.text) && m.message_id > menu.message_id), { what: 'refusal' });

    const digest = await running!.telegram!.sendDigest();
    expect(digest).toMatch(/Digest/);
    expect(digest).toMatch(/Actions: 0 completed, 0 failed, 1 rejected, 0 cancelled/);
    expect(digest).toMatch(/Still unhealthy \(1\)/);
    expect(digest).toMatch(/Silent agents: n2/);
  }, 60_000);

  it('TELEGRAM_THREAD_ID: messages go to that forum topic; a command is answered in the topic it was sent in', async () => {
    const GROUP = -1001234567890;
    running = await f.start({ ...botEnv(api), TELEGRAM_CHAT_ID: String(GROUP), TELEGRAM_THREAD_ID: '7' }, { paused: ['executor'] });
    mem = f.mem;
    await drift([['s9', 'containers_not_running']]);
    const msg = await waitFor(() => api.chat(GROUP).find((m) => m.text.includes('container-restart-n1-s9')), { what: 'action message in the group' });
    expect(msg.message_thread_id).toBe(7);
    const before = api.callsOf('sendMessage').length;
    api.userMessage(GROUP, ADMIN, '/status', 42);
    await waitFor(() => api.callsOf('sendMessage').length > before, { what: 'the reply' });
    expect(api.callsOf('sendMessage').at(-1)!.params.message_thread_id).toBe(42);
    expect(() => loadConfig({ ...botEnv(api), TELEGRAM_THREAD_ID: '7' })).toThrow(/TELEGRAM_THREAD_ID: forum topics exist only in supergroups/);
    expect(() => loadConfig({ ...botEnv(api), TELEGRAM_CHAT_ID: String(GROUP), TELEGRAM_THREAD_ID: 'seven' })).toThrow(/TELEGRAM_THREAD_ID: must be a whole number/);
  });

  it('403 (bot blocked): nothing dropped, /healthz says unavailable (200), one log line; unblocked, every message catches up', async () => {
    await start({ executor: false });
    api.blocked.add(CHAT);
    await drift([['s10', 'containers_not_running'], ['s11', 'containers_not_running']]);
    await waitFor(() => running!.telegram!.outbox.health.state === 'unavailable', { what: 'the chat seen as unavailable' });
    const health = await fetch(`${running!.address}/healthz`);
    expect(health.status).toBe(200);
    expect((await health.json()).telegram).toMatchObject({ state: 'unavailable', reason: 'Forbidden: bot was blocked by the user' });
    // Meanwhile the action changes; the message that was never sent must show the newest state.
    await store().transition({ id: 'container-restart-n1-s10', from: 'pending', to: 'rejected', by: 'cli:x', patch: { rejected_by: { via: 'cli', name: 'x' } } });
    const probesBefore = api.calls.filter((c) => c.status === 403).length;
    expect(probesBefore).toBeLessThanOrEqual(2);
    api.blocked.delete(CHAT);
    const m10 = await waitFor(() => messageAbout('container-restart-n1-s10'), { timeoutMs: 20_000, what: 's10 after the unblock' });
    await waitFor(() => messageAbout('container-restart-n1-s11'), { timeoutMs: 20_000, what: 's11 after the unblock' });
    await waitFor(() => /Rejected/.test(api.messages.get(m10.message_id)!.text), { what: 'the newest state' });
    expect(mem.text().match(/the Telegram chat is unavailable/g)).toHaveLength(1);
    expect(mem.text()).toMatch(/reachable again/);
    expect(running!.telegram!.outbox.health.state).toBe('ok');
  });

  it('a chat Telegram does not know, or a topic that is not there, stops the start naming the variable; Telegram unreachable at start does not', async () => {
    api.unknownChats.add(CHAT);
    let err = await f.start(botEnv(api)).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^TELEGRAM_CHAT_ID: Telegram says "Bad Request: chat not found" for chat 555: add the bot/);
    api.unknownChats.delete(CHAT);
    api.blocked.add(CHAT);
    err = await f.start(botEnv(api)).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^TELEGRAM_CHAT_ID: Telegram says "Forbidden: bot was blocked by the user"/);
    api.blocked.delete(CHAT);
    const group = -1001234567890;
    api.threads.set(group, new Set([7]));
    err = await f.start({ ...botEnv(api), TELEGRAM_CHAT_ID: String(group), TELEGRAM_THREAD_ID: '9' }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^TELEGRAM_THREAD_ID: Telegram says "Bad Request: message thread not found" for topic 9 of chat -1001234567890/);
    api.allowRefusals(/message thread not found/);
    // The right topic: it starts.
    running = await f.start({ ...botEnv(api), TELEGRAM_CHAT_ID: String(group), TELEGRAM_THREAD_ID: '7' });
    expect(api.callsOf('getChat')).not.toHaveLength(0);
    expect(api.callsOf('sendChatAction').at(-1)!.params).toMatchObject({ chat_id: group, message_thread_id: 7 });
    await f.stop();
    running = undefined;
    // Telegram down at start: the start goes on (the bot keeps trying).
    api.fail('getChat', 500, 1);
    running = await f.start(botEnv(api));
    expect(f.mem.text()).toMatch(/Telegram does not answer yet \(getChat\)/);
  });

  it('a start that fails on Telegram leaves nothing running: no write to HOMELAB_ROOT after it returned', async () => {
    // More events than one read chunk: the first pass publishes twice at the same (fake) time, so
    // the world files' second write is a trailing one — it must happen before the failed start returns.
    await appendEvents(l.root, Array.from({ length: 60 }, () => ev('node_heartbeat')));
    api.unknownChats.add(CHAT);
    const clock = new FakeClock(Date.now());
    const config = loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600', OBSERVER_CHUNK_KB: '4', ...botEnv(api) });
    const err = await startControlPlane(config, memoryLogger().log, clock).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^TELEGRAM_CHAT_ID: /);
    const snapshot = async () => {
      const names = (await readdir(l.state)).sort();
      return { names, checkpoint: await readFile(l.checkpoint, 'utf8').catch(() => '') };
    };
    const after = await snapshot();
    expect(after.names).not.toContain('control-plane.pid');
    expect(after.checkpoint).toMatch(/"positions"/);
    expect(clock.pending).toBe(0);
    await clock.advance(60_000);
    expect(await snapshot()).toEqual(after);
  });

  it('"chat not found" while running (the chat deleted, the bot removed): kept, /healthz says so (200), delivered once the chat is back', async () => {
    await start({ executor: false });
    api.unknownChats.add(CHAT);
    await drift([['s13', 'containers_not_running']]);
    await waitFor(() => running!.telegram!.outbox.health.state === 'unavailable', { what: 'the chat seen as unavailable' });
    const health = await fetch(`${running!.address}/healthz`);
    expect(health.status).toBe(200);
    expect((await health.json()).telegram).toMatchObject({ state: 'unavailable', reason: 'Bad Request: chat not found' });
    expect(messageAbout('container-restart-n1-s13')).toBeUndefined();
    expect(mem.text()).not.toMatch(/given up/);
    api.unknownChats.delete(CHAT);
    const m = await waitFor(() => messageAbout('container-restart-n1-s13'), { timeoutMs: 30_000, what: 'the pending action after the chat is back' });
    expect(buttons(m)).toEqual(['✅ Approve', '✖️ Reject', ...SNOOZE]);
    // The answer to that send is what says the chat is back (the message lands a moment before).
    await waitFor(() => running!.telegram!.outbox.health.state === 'ok', { what: 'the chat seen as back' });
  });

  it('a stop during an action: the message says what the stop waits for, then "interrupted" — both delivered before the process ends', async () => {
    // An engine that accepts and never answers: the restart hangs at its first step.
    const net = await import('node:net');
    const sock = path.join(root, 'silent-engine.sock');
    const conns = new Set<import('node:net').Socket>();
    const silent = net.createServer((c) => {
      conns.add(c);
      c.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(sock, () => resolve()));
    try {
      const services = Array.from({ length: 14 }, (_, i) => `  s${i + 1}: {}`).join('\n');
      await writeHosts(hosts, { n1: `docker:\n  socket: ${sock}\nservices:\n${services}\n` });
      running = await f.start({ ...botEnv(api), SHUTDOWN_GRACE_S: '3' });
      mem = f.mem;
      await drift([['s9', 'containers_not_running']]);
      const id = 'container-restart-n1-s9';
      const msg = await waitFor(() => messageAbout(id), { what: 'the action message' });
      await store().transition({ id, from: 'pending', to: 'approved', by: 'cli:x', patch: { approved_by: { via: 'cli', name: 'x' } } });
      await waitFor(() => /Running/.test(api.messages.get(msg.message_id)!.text), { timeoutMs: 20_000, what: 'running in the chat' });
      await f.stop();
      running = undefined;
      const edits = api.callsOf('editMessageText').filter((c) => Number(c.params.message_id) === msg.message_id).map((c) => String(c.params.text));
      expect(edits.some((t) => /⏳ stopping: the control plane waits for the first Docker step of container_restart \(at most SHUTDOWN_GRACE_S, 3 s\)/.test(t))).toBe(true);
      expect(api.messages.get(msg.message_id)!.text).toMatch(/Failed<\/b>.*interrupted: the control plane stopped and SHUTDOWN_GRACE_S \(3 s\) ran out/s);
      expect(f.mem.text()).toMatch(/stopping: waiting for container-restart-n1-s9 \(container_restart on n1: the first Docker step of container_restart\), 0 s of SHUTDOWN_GRACE_S 3 s/);
    } finally {
      for (const c of conns) c.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('400 for another reason: logged with method, reason and key, and sent again as plain text', async () => {
    await start({ executor: false });
    api.fail('sendMessage', 400, 1, undefined, "Bad Request: can't parse entities: unsupported start tag \"x\" at byte offset 3");
    api.allowRefusals(/can't parse entities/);
    await drift([['s12', 'containers_not_running']]);
    const msg = await waitFor(() => messageAbout('container-restart-n1-s12'), { what: 'the plain-text message' });
    const sent = api.callsOf('sendMessage').find((c) => String(c.params.text).includes('container-restart-n1-s12'))!;
    expect(sent.params.parse_mode).toBeUndefined();
    expect(msg.text).not.toMatch(/<b>|&lt;/);
    const line = mem.lines.find((x) => /sending it again as plain text/.test(String(x.msg)))!;
    expect(line).toMatchObject({ level: 50, method: 'sendMessage', code: 400, key: expect.stringContaining('container-restart-n1-s12') });
  });

  it('409 (another poller during a rolling restart): retried; one error line only when it lasts 3 times', async () => {
    api.fail('getUpdates', 409, 3, undefined, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running');
    await start({ executor: false });
    await waitFor(() => api.calls.filter((c) => c.method === 'getUpdates' && c.status === 'ok').length > 0, { timeoutMs: 30_000, what: 'polling after the conflicts' });
    expect(mem.text().match(/409 Conflict, 3 times in a row/g)).toHaveLength(1);
    expect(mem.lines.filter((x) => Number(x.level) >= 50 && !/409 Conflict, 3 times/.test(String(x.msg)))).toEqual([]);
  }, 60_000);

  it('/logs: refused for a container services.yaml does not name, an unknown node, a non-admin, bad arguments — and nothing is read from the engine', async () => {
    const { FakeDocker } = await import('../support/fake-docker.js');
    const engine = new FakeDocker(path.join(root, 'docker.sock'));
    await engine.start();
    try {
      await writeHosts(hosts, { n1: `docker:\n  socket: ${path.join(root, 'docker.sock')}\nservices:\n  s1: {}\n` });
      await start({ executor: false });
      const reply = async (text: string, from = ADMIN) => {
        const before = api.callsOf('sendMessage').length;
        api.userMessage(CHAT, from, text);
        await waitFor(() => api.callsOf('sendMessage').length > before, { timeoutMs: 10_000, what: `reply to ${text}` });
        return String(api.callsOf('sendMessage').at(-1)!.params.text);
      };
      const before = engine.requests.length;
      expect(await reply('/logs n1/postgres')).toMatch(/Not read: no service "postgres" in hosts\/n1\/services\.yaml.*only the containers services\.yaml names/);
      expect(await reply('/logs n9/s1')).toMatch(/Not read: .*n9/);
      expect(await reply('/logs n1/s1', STRANGER)).toMatch(/Not authorized/);
      expect(mem.lines.find((x) => x.what === '/logs')?.msg).toBe('a user who is not in TELEGRAM_ADMIN_IDS tried to read logs');
      expect(await reply('/logs n1/s1 500')).toMatch(/Usage: \/logs/);
      expect(await reply('/logs ../../etc/passwd')).toMatch(/Usage: \/logs|Not read/);
      expect(engine.requests.length).toBe(before);
      // An admin and a named service: the engine is asked (this stand-in knows no logs: the reply explains).
      await reply('/logs n1/s1 5');
      expect(engine.requests.slice(before)).toContain('GET /containers/s1/json');
    } finally {
      await engine.stop();
    }
  });

  it('📜 Logs of an action whose evidence is older than 5 minutes reads it again (and stores it); a stranger may not', async () => {
    await start({ executor: false });
    await drift([['s13', 'containers_not_running']]);
    const id = 'container-restart-n1-s13';
    const msg = await waitFor(() => messageAbout(id), { what: 'action message' });
    const a = (await store().history(id))[0]!;
    const ev = running!.evidence;
    // Wait for the inspector's own evidence (the engine here does not exist), then make it old, with logs.
    await waitFor(() => ev.read(id, a.instance), { what: 'the first evidence' });
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    await ev.write({ version: 1, id, instance: a.instance, node: 'n1', service: 's13', collected_at: old, containers: [{ name: 's13', state: 'exited', exit_code: 1, oom_killed: false, restart_count: 0, started_at: null, finished_at: null, health: null, image: null, image_id: null, logs: ['2026-05-27T14:00:00Z old line'], logs_truncated: false }] });
    await running!.telegram!.loop.runNow();
    await waitFor(() => buttons(api.messages.get(msg.message_id)).includes('📜 Logs'), { what: 'the Logs button' });
    let cq = api.press(msg.message_id, api.button(msg.message_id, '📜 Logs'), STRANGER);
    expect((await answered(cq)).text).toMatch(/Not authorized/);
    cq = api.press(msg.message_id, api.button(msg.message_id, '📜 Logs'), ADMIN);
    await answered(cq);
    const reply = await waitFor(() => api.chat(CHAT).find((m) => /📜 <b>Logs of s13 on n1<\/b>/.test(m.text)), { what: 'the logs reply' });
    // Read again: this engine cannot be reached, and the reply says so instead of the old line.
    expect(reply.text).toMatch(/cannot reach n1's Docker Engine/);
    expect(reply.text).not.toContain('old line');
    expect((await ev.read(id, a.instance))!.collected_at > old).toBe(true);
  });

  it('commands from another chat are ignored', async () => {
    await start({ executor: false });
    api.userMessage(999, ADMIN, '/status');
    api.userMessage(CHAT, ADMIN, '/help');
    await waitFor(() => api.callsOf('sendMessage').some((c) => /\/recover/.test(String(c.params.text))), { what: 'help reply' });
    expect(api.callsOf('sendMessage').some((c) => /Homelab status/.test(String(c.params.text)))).toBe(false);
  });

  it('the bot token never appears in a log line, even when Telegram fails', async () => {
    api.fail('*', 500, 3);
    api.fail('sendMessage', 401, 1);
    await start({ executor: false });
    await drift([['s1', 'containers_not_running']]);
    await waitFor(() => api.calls.some((c) => c.status === 401), { timeoutMs: 20_000, what: 'the 401' });
    // A revoked token while running: one clear line, every message kept for a restart.
    await waitFor(() => /TELEGRAM_BOT_TOKEN was revoked/.test(mem.text()), { what: 'the 401 said in the log' });
    expect(running!.telegram!.outbox.health.state).toBe('unauthorized');
    const text = mem.text();
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(TOKEN.split(':')[1]);
  }, 40_000);
});

describe('image updates', () => {
  it('an update message names image, digests, version, age and source; Skip this version rejects it and remembers the digest', async () => {
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    await writeHosts(hosts, { n1: 'docker:\n  socket: /nonexistent/docker.sock\n  updates: approve\nservices:\n  s1: {}\n  s2:\n    updates: notify\n' });
    await appendEvents(l.root, [ev('node_heartbeat'), ev('service_healthy', 's1'), ev('service_healthy', 's2')]);
    const created = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const image = { image: 'koenkk/zigbee2mqtt:latest', repository: 'docker.io/koenkk/zigbee2mqtt', tag: 'latest', local_digest: d1, remote_digest: d2, status: 'image_update_available' as const, version: '2.1.0', created, source: 'https://github.com/Koenkk/zigbee2mqtt' };
    await new UpdatesStore(l).save([
      { node: 'n1', service: 's1', checked_at: now(), images: [{ ...image, containers: ['s1'] }] },
      { node: 'n1', service: 's2', checked_at: now(), images: [{ ...image, containers: ['s2'] }] },
    ]);
    await start({ executor: false });
    const id = 'image-update-n1-s1';
    const m = await waitFor(() => messageAbout(id), { what: 'update message' });
    expect(m.text).toContain('🛡 <b>Update s1 on n1</b>');
    expect(m.text).toContain('🆕 <code>koenkk/zigbee2mqtt:latest</code> 111111111111 → <b>222222222222</b> (version <b>2.1.0</b>, built 2 days ago) · <a href="https://github.com/Koenkk/zigbee2mqtt">source</a>');
    expect(buttons(m)).toEqual(['✅ Approve', '✖️ Reject', '⏭ Skip this version', ...SNOOZE]);
    // updates: notify → a notice, no action.
    const notice = await waitFor(() => api.chat(CHAT).find((x) => x.text.includes('🆕 Newer image')), { what: 'notify notice' });
    expect(notice.text).toContain('A newer image for s2 on n1: koenkk/zigbee2mqtt:latest 111111111111 → 222222222222 (2.1.0)');
    expect(await readdir(l.actionDir('pending'))).toEqual([`${id}.json`]);

    let cq = api.press(m.message_id, api.button(m.message_id, '⏭ Skip this version'), STRANGER);
    await answered(cq);
    expect(await readdir(l.actionDir('pending'))).toEqual([`${id}.json`]);
    cq = api.press(m.message_id, api.button(m.message_id, '⏭ Skip this version'), ADMIN);
    expect((await answered(cq)).text).toMatch(/Skipped/);
    await waitFor(() => /Rejected<\/b> by @oskar/.test(api.messages.get(m.message_id)!.text), { what: 'rejected edit' });
    expect(buttons(api.messages.get(m.message_id))).toEqual([]);
    expect(new UpdatesStore(l).skips()['n1/s1']).toEqual([expect.objectContaining({ digest: d2, reason: 'skipped', by: expect.stringMatching(/^telegram:\d+$/) })]);
    // The next check finds the same digest: it is not proposed again.
    await new UpdatesStore(l).save([{ node: 'n1', service: 's1', checked_at: new Date(Date.now() + 1000).toISOString(), images: [{ ...image, containers: ['s1'] }] }]);
    await f.pass('supervisor');
    expect(await readdir(l.actionDir('pending'))).toEqual([]);
  });
});
