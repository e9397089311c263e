// Action retention (docs/design/files.md "Retention"): finished actions older than
// ACTIONS_RETENTION_DAYS go with their evidence and chat records; with ACTIONS_ARCHIVE=1 they are
// archived first, once each.
import { readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageRetention } from '../../src/app/retention.js';
import type { ActionDraft } from '../../src/domain/plan.js';
import { ActionRetention } from '../../src/loops/action-retention.js';
import { ActionStore } from '../../src/store/actions.js';
import { EvidenceStore } from '../../src/store/evidence.js';
import { OutboxFiles, OUTBOX_VERSION, type OutRecord } from '../../src/store/outbox-files.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';
import { memoryLogger, removeDir, tempDir } from '../support/helpers.js';

const DAY = 86_400_000;
const NOW = Date.now();

let root: string;
let l: Layout;
let clock = NOW;
let actions: ActionStore;
let evidence: EvidenceStore;
let outbox: OutboxFiles;

beforeEach(async () => {
  root = await tempDir('hcp-aret-');
  l = layout(root);
  await ensureLayout(l);
  actions = new ActionStore(l.actions, () => clock);
  await actions.ensureDirs();
  evidence = new EvidenceStore(path.join(l.actions, 'evidence'));
  outbox = new OutboxFiles(l.telegram.outbox, memoryLogger().log);
  await outbox.load(); // makes its directory
});
afterEach(async () => {
  await removeDir(root);
});

const draft = (service: string, instance: string): ActionDraft => ({
  id: `container-restart-n-${service}`,
  instance,
  type: 'container_restart',
  risk: 'low',
  node: 'n',
  service,
  drift: 'unhealthy_service',
  trigger: 'containers_not_running',
  containers: [service],
  drift_since: null,
});

/** An action that finished `daysAgo` days ago, with evidence and its chat message; files dated then. */
async function finished(service: string, daysAgo: number, to: 'completed' | 'rejected' | 'failed' | 'cancelled') {
  clock = NOW - daysAgo * DAY;
  const instance = new Date(clock).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const a = (await actions.create(draft(service, instance)))!;
  if (to === 'completed' || to === 'failed') {
    await actions.transition({ id: a.id, from: 'pending', to: 'approved', by: 't' });
    await actions.transition({ id: a.id, from: 'approved', to: 'running', by: 't' });
  }
  const done = await actions.transition({ id: a.id, from: to === 'completed' || to === 'failed' ? 'running' : 'pending', to, by: 't' });
  await evidence.write({ version: 1, id: a.id, instance, node: 'n', service, collected_at: new Date(clock).toISOString(), containers: [] });
  await outbox.write(record(`action:${a.id}@${instance}`, clock, true));
  const when = new Date(clock);
  await utimes(path.join(l.actionDir(to), `${a.id}@${instance}.json`), when, when);
  clock = NOW;
  return done;
}

function record(key: string, at: number, final: boolean): OutRecord {
  return {
    version: OUTBOX_VERSION, key, chat_id: '42', text: key, buttons: [], rev: 1, delivered_rev: 1, queued_at: new Date(at).toISOString(),
    message_id: 7, delivered_at: new Date(at).toISOString(), attempts: 1, last_error: null, ref: 'r', meta: { kind: 'reply', final },
  };
}

function retention(archive: boolean, days = 90) {
  return new ActionRetention({ actions, evidence, archiveDir: l.archive, days, archive, messages: messageRetention(l, undefined, memoryLogger().log), log: memoryLogger().log, now: () => NOW });
}

const files = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();

describe('action retention', () => {
  it('removes finished actions older than the retention with their evidence and chat records; keeps the rest and the cooldowns', async () => {
    const old = await finished('web', 120, 'completed');
    await finished('db', 100, 'rejected');
    const recent = await finished('web', 10, 'failed');
    await actions.create(draft('mqtt', '20260101T000000Z')); // open: never removed, however old
    await outbox.write(record('reply:old', NOW - 200 * DAY, true));
    await outbox.write(record('reply:recent', NOW - DAY, true));
    await outbox.write(record('list:open', NOW - 200 * DAY, false)); // not final: kept
    const state = new SupervisorState(l.state);
    const cooldowns = { [old.id]: { node: 'n', service: 'web', type: 'container_restart' as const, count: 2, last_at: recent.updated_at, last_outcome: 'failed' } };
    await state.saveCooldowns(cooldowns);

    const r = await retention(false).pass();
    expect(r).toMatchObject({ removed: 2, archived: 0 });
    expect(await files(l.actionDir('completed'))).toEqual([]);
    expect(await files(l.actionDir('rejected'))).toEqual([]);
    expect(await files(l.actionDir('failed'))).toEqual([`${recent.id}@${recent.instance}.json`]);
    expect(await files(l.actionDir('pending'))).toHaveLength(1);
    expect(await files(path.join(l.actions, 'evidence'))).toEqual([`${recent.id}@${recent.instance}.json`]);
    const keys = (await outbox.load()).map((x) => x.key).sort();
    expect(keys).toEqual([`action:${recent.id}@${recent.instance}`, 'list:open', 'reply:recent']);
    expect(r.messages).toBe(3);
    // Cooldowns live in their own file: what was removed changes nothing there.
    expect(await state.cooldowns()).toEqual(cooldowns);
    // Nothing more to do the second time.
    expect(await retention(false).pass()).toMatchObject({ removed: 0, messages: 0 });
  });

  it('with ACTIONS_ARCHIVE=1 archives each removed action once, with its evidence, by the month it ended in', async () => {
    const a = await finished('web', 120, 'completed');
    const b = await finished('db', 95, 'cancelled');
    const r = await retention(true).pass();
    expect(r).toMatchObject({ removed: 2, archived: 2 });
    const months = await files(l.archive);
    const expected = [...new Set([a.updated_at.slice(0, 7), b.updated_at.slice(0, 7)])].map((m) => `actions-${m}.jsonl.gz`).sort();
    expect(months).toEqual(expected);
    const lines = months.flatMap((m) => gunzipSync(readFileSync(path.join(l.archive, m))).toString('utf8').trim().split('\n')).map((x) => JSON.parse(x) as { action: { id: string; state: string }; evidence: { id: string } | null });
    expect(lines.map((x) => x.action.id).sort()).toEqual([a.id, b.id].sort());
    expect(lines.every((x) => x.evidence?.id === x.action.id)).toBe(true);
    // A stop after the archive was written and before the files went: the same action is still
    // there at the next pass, which removes it and archives nothing twice.
    const again = await finished('web', 120, 'completed');
    expect(`${again.id}@${again.instance}`).toBe(`${a.id}@${a.instance}`);
    expect(await retention(true).pass()).toMatchObject({ removed: 1, archived: 0 });
    const all = (await files(l.archive)).flatMap((m) => gunzipSync(readFileSync(path.join(l.archive, m))).toString('utf8').trim().split('\n'));
    expect(all).toHaveLength(2);
    expect(await files(l.actionDir('completed'))).toEqual([]);
  });

  it('ACTIONS_RETENTION_DAYS=0 keeps every action', async () => {
    await finished('web', 400, 'completed');
    expect(await retention(false, 0).pass()).toMatchObject({ removed: 0 });
    expect(await files(l.actionDir('completed'))).toHaveLength(1);
  });
});
