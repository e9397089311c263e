// `control-plane run` in a child process: its output, its address once it listens, and its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { runNodeArgs, waitFor } from './helpers.js';

export interface RunChild {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  output: () => string;
  /** Resolves with http://host:port once the web server listens. */
  ready: (timeoutMs?: number) => Promise<string>;
}

export function startRunChild(env: NodeJS.ProcessEnv, args: string[] = ['run']): RunChild {
  const proc = spawn(process.execPath, [...runNodeArgs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return {
    proc,
    exited,
    output: () => out,
    ready: (timeoutMs = 20_000) =>
      waitFor(
        () => {
          if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}: ${out}`);
          return /"address":"(http:\/\/[^"]+)"/.exec(out)?.[1];
        },
        { timeoutMs, what: 'the control plane to listen' },
      ),
  };
}
