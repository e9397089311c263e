#!/usr/bin/env node
// `control-plane <command>`: the entry point. The commands live in src/cli/, one module per
// command group, dispatched by src/cli/main.ts.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from './cli/main.js';
import { endParentless, rerunWithHeapFlags } from './cli/heap-flags.js';

export { main } from './cli/main.js';
export { nodeSupportNote } from './cli/run.js';

function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) endParentless();
if (isEntryPoint()) (rerunWithHeapFlags(process.argv.slice(2)) ?? main(process.argv.slice(2))).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`control-plane: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
