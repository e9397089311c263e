// The dispatcher: a command's name → its module (one per command group). A new command is one
// entry here, one module beside this one and its help text in help.ts.
import { ConfigError } from '../errors.js';
import { VERSION } from '../status.js';
import { cmdActions } from './actions.js';
import { cmdAgent } from './agent.js';
import { UsageError, didYouMean, type Command } from './args.js';
import { USAGE, help } from './help.js';
import { cmdHosts } from './hosts.js';
import { cmdNats } from './nats.js';
import { cmdLogs } from './logs.js';
import { cmdMaintenance } from './maintenance.js';
import { cmdMirror } from './mirror.js';
import { cmdCheck, cmdObserve, cmdReplay } from './offline.js';
import { cmdRun } from './run.js';
import { cmdSilence } from './silence.js';
import { cmdUpdates } from './updates.js';

const version: Command = async () => {
  process.stdout.write(`control-plane ${VERSION}\n`);
  return 0;
};

const COMMANDS: Record<string, Command> = {
  run: cmdRun,
  check: cmdCheck,
  replay: cmdReplay,
  observe: cmdObserve,
  actions: cmdActions,
  silence: cmdSilence,
  maintenance: cmdMaintenance,
  agent: cmdAgent,
  mirror: cmdMirror,
  logs: cmdLogs,
  updates: cmdUpdates,
  hosts: cmdHosts,
  nats: cmdNats,
  version,
  '--version': version,
  '-V': version,
  help: async () => help(),
  '--help': async () => help(),
  '-h': async () => help(),
};

/** The commands by name, as `control-plane --help` lists them (the docs test checks cli.md against it). */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS).filter((c) => !c.startsWith('-') && c !== 'help' && c !== 'version');

function commandGuess(command: string): string {
  const guess = didYouMean(command, Object.keys(COMMANDS).filter((c) => !c.startsWith('-')));
  return guess ? ` (did you mean ${guess}?)` : '';
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      // No command is a usage error (exit 2), as with any command-line tool: say what there is.
      process.stderr.write(`control-plane: a command is needed\n\n${USAGE}\n`);
      return 2;
    }
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(`unknown command ${JSON.stringify(command)}${commandGuess(command)}\n\n${USAGE}`);
    return await run(rest, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`control-plane: configuration error: ${err.message}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`control-plane: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`control-plane: ${(err as Error).message}\n`);
    return 1;
  }
}
