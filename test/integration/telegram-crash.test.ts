// A kill -9 while a sendMessage is under way: Telegram may or may not have the message, and the
// Bot API cannot tell. The intent is on disk before the call, so the next start sends it again,
// marked; the action's buttons and later edits belong to the new message only.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionStore } from '../../src/store/actions.js';
import { layout } from '../../src/store/paths.js';
import { botEnv, FakeBotApi, TEST_BOT } from '../support/bot-api.js';
import { startRunChild, type RunChild } from '../support/child.js';
import { appendEvents, removeDir, tempDir, waitFor, writeHosts } from '../support/helpers.js';

let root: string;
let api: FakeBotApi;
let child: RunChild | undefined;

beforeAll(async () => {
  root = await tempDir('hcp-tg-crash-');
  await writeHosts(path.join(root, 'hosts'), { n1: 'docker:\n  socket: /nonexistent/docker.sock\nservices:\n  s1: {}\n' });
  api = await new FakeBotApi(TEST_BOT.token).start();
});
afterAll(async () => {
  child?.proc.kill('SIGKILL');
  await child?.exited;
  await api.close();
  await removeDir(root);
});

describe('a crash during sendMessage', () => {
  it('the message is sent again once, marked; only the new one has working buttons', async () => {
    const l = layout(path.join(root, 'homelab'));
    const env = { PATH: process.env.PATH, HOMELAB_ROOT: l.root, HOSTS_DIR: path.join(root, 'hosts'), PORT: '0', RECONCILE_INTERVAL_S: '3600', LOG_LEVEL: 'info', ...botEnv(api) };
    const id = 'container-restart-n1-s1';
    const ts = new Date().toISOString();
    await appendEvents(l.root, [{ ts, node: 'n1', type: 'node_heartbeat' }, { ts, node: 'n1', type: 'containers_not_running', service: 's1' }]);
    api.holdSends = true;
    child = startRunChild(env);
    await child.ready();
    // Telegram has the message; the control plane has not heard back.
    await waitFor(() => api.heldSendCount === 1, { what: 'the send held', timeoutMs: 20_000 });
    child.proc.kill('SIGKILL');
    await child.exited;
    api.releaseSends();
    const first = api.chat(TEST_BOT.chat).find((m) => m.text.includes(id))!;
    child = startRunChild(env);
    await child.ready();
    const again = await waitFor(() => api.chat(TEST_BOT.chat).find((m) => m.text.includes(id) && m.message_id !== first.message_id), { what: 'the message sent again', timeoutMs: 20_000 });
    expect(again.text).toMatch(/^<i>↻ re-sent after a restart<\/i>\n/);
    expect(api.chat(TEST_BOT.chat).filter((m) => m.text.includes(id))).toHaveLength(2);
    expect(first.text).not.toMatch(/re-sent/);
    // A press on the old copy changes nothing and takes its buttons away.
    const old = api.press(first.message_id, api.button(first.message_id, '✅ Approve'), TEST_BOT.admin);
    expect(String((await waitFor(() => api.answers.get(old))).text)).toMatch(/replaced by a newer one/);
    await waitFor(() => (api.messages.get(first.message_id)!.reply_markup?.inline_keyboard.flat().length ?? 0) === 0, { what: 'the old keyboard removed' });
    expect((await new ActionStore(l.actions).get(id))!.state).toBe('pending');
    // The new copy's buttons work.
    const cq = api.press(again.message_id, api.button(again.message_id, '✅ Approve'), TEST_BOT.admin);
    expect(String((await waitFor(() => api.answers.get(cq))).text)).toMatch(/Approved/);
    await waitFor(async () => (await new ActionStore(l.actions).get(id))?.state !== 'pending', { what: 'approved' });
    expect(api.chat(TEST_BOT.chat).filter((m) => /re-sent after a restart/.test(m.text))).toHaveLength(1);
    expect(api.unexpectedRefusals()).toEqual([]);
  });
});
