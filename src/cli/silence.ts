// `control-plane silence`: add, list and remove silences.
import { OUTPUT, UsageError, parse, outputFormat } from './args.js';
import { config, withState } from './context.js';
import { HELP, help } from './help.js';
import { addWindow, listWindows, removeWindows } from './windows.js';

export async function cmdSilence(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const name = sub && HELP[`silence ${sub}`] ? `silence ${sub}` : 'silence';
  const { values, positionals } = parse(name, argv, { reason: { type: 'string' }, by: { type: 'string' }, ...OUTPUT });
  const [, what, duration] = positionals;
  if (values.help || !sub) return help(name);
  // A wrong command is said before anything is asked of the state (NATS, with NATS_URL).
  const unknown = new UsageError(`unknown silence command ${JSON.stringify(sub)}\n\n${HELP.silence}`);
  if (!['add', 'list', 'rm'].includes(sub)) throw unknown;
  return withState(env, config(env), async (state) => {
    const windows = state.silenceWindows;
    switch (sub) {
      case 'add':
        if (!what || !duration) throw new UsageError(`silence add needs a target and a duration\n\n${HELP.silence}`);
        return addWindow(windows, env, what, duration, { reason: values.reason as string | undefined, by: values.by as string | undefined }, { done: 'silenced', extended: 'extended the silence of', refused: 'not silenced' });
      case 'list':
        return listWindows(windows, outputFormat(values), 'no active silences');
      case 'rm':
        if (!what) throw new UsageError(`silence rm needs an id or a target\n\n${HELP.silence}`);
        return removeWindows(windows, what, 'no silence', 'removed N silence(s)');
      default:
        throw unknown;
    }
  });
}
