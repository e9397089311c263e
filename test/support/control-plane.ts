// One fixture for tests that run the whole control plane in-process (in the manner of
// sample-controller's newFixture): a temp HOMELAB_ROOT and hosts/, a start with test settings,
// the loops by name, and clean-up. Tests do not reach into the loop list themselves.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import type { ActionState } from '../../src/domain/actions.js';
import { startControlPlane, type LoopName, type Running } from '../../src/main.js';
import { ActionStore } from '../../src/store/actions.js';
import { layout, type Layout } from '../../src/store/paths.js';
import { appendEvents, memoryLogger, removeDir, tempDir, writeHosts, type Ev } from './helpers.js';

export interface ControlPlaneFixture {
  root: string;
  hosts: string;
  l: Layout;
  /** The log of the current (or last) start. */
  mem: ReturnType<typeof memoryLogger>;
  /** The running control plane; throws when it is not running. */
  readonly running: Running;
  /** Starts it with test settings (PORT 0, a long interval) and `env` on top; `loops` listed in `paused` are stopped at once. */
  start(env?: Record<string, string>, opts?: { paused?: LoopName[] }): Promise<Running>;
  stop(): Promise<void>;
  restart(env?: Record<string, string>, opts?: { paused?: LoopName[] }): Promise<Running>;
  /** Runs one pass of a loop now (waiting for one under way). */
  pass(loop: LoopName): Promise<void>;
  /** Stops a loop, e.g. the executor in a test that keeps approved actions where they are. */
  pause(loop: LoopName): Promise<void>;
  events(events: Ev[], fileNode?: string): Promise<void>;
  writeHosts(files: Record<string, string>): Promise<void>;
  store(): ActionStore;
  /** Names of the action files (no dot-names) in a state's directory, sorted. */
  files(state: ActionState): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function controlPlaneFixture(prefix = 'hcp-cp-', hostsFiles: Record<string, string> = {}): Promise<ControlPlaneFixture> {
  const root = await tempDir(prefix);
  const hosts = path.join(root, 'hosts');
  await writeHosts(hosts, hostsFiles);
  const l = layout(path.join(root, 'homelab'));
  let running: Running | undefined;
  let lastEnv: Record<string, string> = {};
  let lastOpts: { paused?: LoopName[] } = {};
  const f: ControlPlaneFixture = {
    root,
    hosts,
    l,
    mem: memoryLogger(),
    get running(): Running {
      if (!running) throw new Error('the control plane is not running');
      return running;
    },
    async start(env = {}, opts = {}) {
      lastEnv = env;
      lastOpts = opts;
      f.mem = memoryLogger();
      running = await startControlPlane(loadConfig({ PORT: '0', HOMELAB_ROOT: l.root, HOSTS_DIR: hosts, RECONCILE_INTERVAL_S: '3600', ...env }), f.mem.log);
      for (const loop of opts.paused ?? []) await running.loops[loop].stop();
      return running;
    },
    async stop() {
      const r = running;
      running = undefined;
      await r?.stop();
    },
    async restart(env = lastEnv, opts = lastOpts) {
      await f.stop();
      return f.start(env, opts);
    },
    pass: (loop) => f.running.loops[loop].runNow(),
    pause: (loop) => f.running.loops[loop].stop(),
    events: (events, fileNode) => appendEvents(l.root, events, fileNode),
    writeHosts: (files) => writeHosts(hosts, files),
    store: () => new ActionStore(l.actions),
    files: async (state) => (await readdir(l.actionDir(state)).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort(),
    async cleanup() {
      await f.stop();
      await removeDir(root);
    },
  };
  return f;
}
