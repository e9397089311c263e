// Reading what changed: with events/ watched, an observer pass reads only the node files the
// watcher named (no listing, no lstat of the others); a new file, a new day, a removal or a lost
// watcher make the next pass list everything again; what it reads is what a full listing reads.
import { appendFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventsWatcher } from '../../src/app/events-watcher.js';
import { loadConfig } from '../../src/config.js';
import { Observer } from '../../src/loops/observer.js';
import { ensureLayout, layout, type Layout } from '../../src/store/paths.js';
import { eventLine, memoryLogger, removeDir, tempDir, waitFor } from '../support/helpers.js';

let root: string;
let l: Layout;
const NOW = Date.parse('2026-12-02T12:00:00.000Z');
const DAY = '2026-12-02';

beforeEach(async () => {
  root = await tempDir('hcp-evw-');
  l = layout(path.join(root, 'homelab'));
  await ensureLayout(l);
});
afterEach(async () => {
  await removeDir(root);
});

const ts = (s: number) => new Date(NOW - 60_000 + s * 1000).toISOString();
const append = (day: string, node: string, lines: object[]) => appendFile(path.join(l.events, day, `${node}.jsonl`), lines.map((e) => eventLine(e as never)).join(''));

describe('the events watcher and the observer', () => {
  it('reads only what the watcher named, and lists everything again when a file comes or goes', async () => {
    const cfg = loadConfig({ HOMELAB_ROOT: l.root, HOSTS_DIR: path.join(root, 'hosts'), RECONCILE_INTERVAL_S: '3600' });
    const observer = new Observer({ layout: l, config: cfg, log: memoryLogger().log, now: () => NOW, desired: () => ({}) });
    await observer.init();
    await mkdir(path.join(l.events, DAY), { recursive: true });
    for (const n of ['a', 'b', 'c']) await append(DAY, n, [{ ts: ts(0), node: n, type: 'service_healthy', service: 's' }]);
    let written = 0;
    const watcher = new EventsWatcher(l.events, () => written++, observer.eventHints, memoryLogger().log);
    await watcher.start();
    try {
      await observer.pass();
      const stats = observer.eventHints.stats;
      expect(stats.sweeps).toBe(1);
      expect(Object.keys(observer.current().services).sort()).toEqual(['a/s', 'b/s', 'c/s']);

      // An append to b: named by the watcher, read without a listing.
      const before = written;
      await append(DAY, 'b', [{ ts: ts(1), node: 'b', type: 'containers_not_running', service: 's' }]);
      await waitFor(() => written > before, { what: 'the append heard' });
      const hinted = stats.hinted;
      await observer.pass();
      expect(stats.sweeps).toBe(1);
      expect(stats.hinted).toBe(hinted + 1);
      expect(observer.current().services['b/s']!.status).toBe('unhealthy');

      // A new node's file: a listing.
      const w2 = written;
      await append(DAY, 'd', [{ ts: ts(2), node: 'd', type: 'service_healthy', service: 's' }]);
      await waitFor(() => written > w2, { what: 'the new file heard' });
      await observer.pass();
      expect(stats.sweeps).toBe(2);
      expect(observer.current().services['d/s']?.status).toBe('healthy');

      // A new day directory: a listing, and its files are read.
      const w3 = written;
      await mkdir(path.join(l.events, '2026-12-03'));
      await append('2026-12-03', 'a', [{ ts: ts(3), node: 'a', type: 'containers_not_running', service: 's' }]);
      await waitFor(() => written > w3, { what: 'the new day heard' });
      await observer.pass();
      expect(stats.sweeps).toBe(3);
      expect(observer.current().services['a/s']!.status).toBe('unhealthy');

      // A removed file: a listing, and its position forgotten.
      const w4 = written;
      await rm(path.join(l.events, DAY, 'c.jsonl'));
      await waitFor(() => written > w4, { what: 'the removal heard' });
      await observer.pass();
      expect(stats.sweeps).toBe(4);
      expect(observer.readPositions()['c']).toBeUndefined();
    } finally {
      watcher.stop();
    }
    // Without the watcher every pass lists.
    const sweeps = observer.eventHints.stats.sweeps;
    await observer.pass();
    expect(observer.eventHints.stats.sweeps).toBe(sweeps + 1);
  });
});
