// The memory settings `control-plane run` is measured with (docs/benchmarks.md): V8's heap flags,
// and glibc's MALLOC_ARENA_MAX=2 (its default, eight arenas per core, keeps what the replay's
// worker threads freed: some 35 MB at 50 000 services). `npm start` and the image pass them; a start
// without the flags (`node dist/cli.js run`, the bin of an `npm i -g` install) runs itself again
// with them, as a child that gets the signals, stdio and exit status.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export const HEAP_FLAGS = ['--heap-growing-percent=50', '--max-semi-space-size=4'] as const;

/** glibc's malloc arenas, unless the environment says otherwise (read by glibc when a process starts). */
export const MALLOC_ENV = { MALLOC_ARENA_MAX: '2' } as const;

/** Set in the child's environment: it runs with the flags and does not start itself again. */
export const RERUN_MARK = 'HOMELAB_HEAP_FLAGS_SET';

/** The heap flags missing from a process started with `execArgv` (each by its name). */
export function missingHeapFlags(execArgv: readonly string[]): string[] {
  return HEAP_FLAGS.filter((f) => !execArgv.some((a) => a.split('=')[0] === f.split('=')[0]));
}

/**
 * When `run` was started without the heap flags (and not by this function already): starts the
 * same command again with them and resolves to the child's exit status (a child ended by a
 * signal: 128 + its number). Undefined when the flags are there and this process runs on.
 */
export function rerunWithHeapFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> | undefined {
  const missing = missingHeapFlags(process.execArgv);
  if (argv[0] !== 'run' || missing.length === 0 || env[RERUN_MARK] === '1' || process.argv[1] === undefined) return undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...missing, ...process.execArgv, process.argv[1]!, ...argv], {
      // The IPC channel tells the child at once when this process is gone (endParentless).
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...MALLOC_ENV, ...env, [RERUN_MARK]: '1' },
    });
    const forward = (signal: NodeJS.Signals) => () => void child.kill(signal);
    const handlers = (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 15) : 15));
    });
  });
}

/**
 * In the child of rerunWithHeapFlags: when the parent is gone (killed with SIGKILL, which it
 * cannot forward), the child ends too, as abruptly — never a control plane left running unseen.
 */
export function endParentless(env: NodeJS.ProcessEnv = process.env): void {
  if (env[RERUN_MARK] !== '1' || !process.connected) return;
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  process.channel?.unref();
}
