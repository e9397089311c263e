import type { ActionDraft } from '../../src/domain/plan.js';
import { mkdtemp, mkdir, appendFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export async function tempDir(prefix = 'hcp-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Waits for a condition, polling, until a deadline. Returns the truthy value. */
export async function waitFor<T>(fn: () => T | Promise<T>, opts: { timeoutMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A logger that keeps every line in memory for assertions. */
export function memoryLogger(level = 'debug'): { log: Logger; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const log = createLogger(level, dest as never);
  return {
    log,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join('\n'),
  };
}

export interface Ev {
  ts: string;
  node: string;
  type: string;
  service?: string;
  detail?: Record<string, unknown>;
  seq?: number;
}

export function eventLine(e: Ev): string {
  return `${JSON.stringify(e)}\n`;
}

/** Appends events to events/<day of ts>/<file node>.jsonl under root. */
export async function appendEvents(root: string, events: Ev[], fileNode?: string): Promise<void> {
  const groups = new Map<string, string[]>();
  for (const e of events) {
    const file = path.join(root, 'events', e.ts.slice(0, 10), `${fileNode ?? e.node}.jsonl`);
    const list = groups.get(file) ?? [];
    list.push(eventLine(e));
    groups.set(file, list);
  }
  for (const [file, lines] of groups) {
    await mkdir(path.dirname(file), { recursive: true });
    await appendFile(file, lines.join(''));
  }
}

export async function writeHosts(dir: string, files: Record<string, string>): Promise<void> {
  for (const [node, text] of Object.entries(files)) {
    await mkdir(path.join(dir, node), { recursive: true });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path.join(dir, node, 'services.yaml'), text);
  }
}

export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const cliPath = path.join(repoRoot, 'dist', 'cli.js');
/** `node <these> run …`: the heap flags `npm start` and the image pass (else `run` starts itself again with them). */
export const runNodeArgs = ['--heap-growing-percent=50', '--max-semi-space-size=4', cliPath];

/** An action draft as the supervisor makes one (container-restart-n-s unless told otherwise). */
export function actionDraft(over: Partial<ActionDraft> = {}): ActionDraft {
  return {
    id: 'container-restart-n-s',
    instance: '20260527T140000Z',
    type: 'container_restart',
    risk: 'low',
    node: 'n',
    service: 's',
    drift: 'unhealthy_service',
    trigger: 'containers_not_running',
    containers: ['s'],
    drift_since: null,
    ...over,
  };
}
