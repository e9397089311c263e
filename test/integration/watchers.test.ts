// The file watchers are hints for the loops: a write of the update files by another process
// (`control-plane updates check`, `updates skip`) is heard at once, renamed over or written in
// place, among the world files written beside them at every publish.
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Bus } from '../../src/app/bus.js';
import { watchersComponent } from '../../src/app/components.js';
import { ensureLayout, layout } from '../../src/store/paths.js';
import { memoryLogger, tempDir, waitFor } from '../support/helpers.js';

describe('watchers', () => {
  it('hears the update files written by another process, among the world files beside them', async () => {
    const root = await tempDir();
    const l = layout(path.join(root, 'homelab'));
    await ensureLayout(l);
    const bus = new Bus();
    const heard: string[] = [];
    bus.on('updatesChanged', () => heard.push('updates'));
    const hosts = path.join(root, 'hosts');
    const updates = path.join(l.world, 'updates.json');
    const skips = path.join(l.state, 'update-skips.json');
    const w = watchersComponent(hosts, l, bus, memoryLogger().log, [updates, skips]);
    await w.start(new AbortController().signal);
    try {
      // Written as the store writes: a temp file renamed over the name.
      for (let i = 0; i < 20; i++) {
        await writeFile(path.join(l.world, `.services.json.${i}.tmp`), '{}\n');
        await rename(path.join(l.world, `.services.json.${i}.tmp`), l.worldServices);
      }
      await writeFile(path.join(l.state, '.skips.tmp'), '{}\n');
      await rename(path.join(l.state, '.skips.tmp'), skips);
      await waitFor(() => heard.length >= 1, { what: 'the skips file heard' });
      const afterSkips = heard.length;
      await writeFile(updates, '{}\n');
      await waitFor(() => heard.length > afterSkips, { what: 'the updates file heard' });
      const before = heard.length;
      await writeFile(l.worldNodes, '{}\n');
      await writeFile(updates, '{"x":1}\n');
      await waitFor(() => heard.length > before, { what: 'the second updates write heard' });
    } finally {
      await w.stop?.();
    }
  });
});
