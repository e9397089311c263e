// A clean full replay of a HOMELAB_ROOT's events into a scratch directory: what world state must
// equal after any crash and restart.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { Observer } from '../../src/loops/observer.js';
import { DesiredStore } from '../../src/store/desired.js';
import { ensureLayout, layout } from '../../src/store/paths.js';
import { memoryLogger, removeDir, tempDir } from './helpers.js';

export async function cleanReplay(env: NodeJS.ProcessEnv): Promise<{ services: string; nodes: string }> {
  const refRoot = await tempDir('hcp-ref-');
  try {
    const ref = { ...layout(refRoot), events: path.join(env.HOMELAB_ROOT!, 'events') };
    await ensureLayout(ref);
    const cfg = loadConfig(env);
    const desired = new DesiredStore(cfg.hostsDir);
    await desired.reload();
    const observer = new Observer({ layout: ref, config: cfg, log: memoryLogger('error').log, now: Date.now, desired: () => desired.current() });
    await observer.initFresh();
    await observer.pass();
    await observer.flush();
    return { services: await readFile(ref.worldServices, 'utf8'), nodes: await readFile(ref.worldNodes, 'utf8') };
  } finally {
    await removeDir(refRoot);
  }
}
