// `control-plane maintenance`: start, stop and list ad hoc maintenance (docs/operator/maintenance.md).
import { OUTPUT, UsageError, parse, outputFormat } from './args.js';
import { config, withState } from './context.js';
import { HELP, help } from './help.js';
import { addWindow, listWindows, removeWindows } from './windows.js';

export async function cmdMaintenance(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const name = sub && HELP[`maintenance ${sub}`] ? `maintenance ${sub}` : 'maintenance';
  const { values, positionals } = parse(name, argv, { for: { type: 'string' }, reason: { type: 'string' }, by: { type: 'string' }, ...OUTPUT });
  const [, what] = positionals;
  if (values.help || !sub) return help(name);
  // A wrong command is said before anything is asked of the state (NATS, with NATS_URL).
  const unknown = new UsageError(`unknown maintenance command ${JSON.stringify(sub)}\n\n${HELP.maintenance}`);
  if (!['start', 'stop', 'list'].includes(sub)) throw unknown;
  return withState(env, config(env), async (state) => {
    const windows = state.maintenanceWindows;
    switch (sub) {
      case 'start':
        if (!what || !values.for) throw new UsageError(`maintenance start needs a target and --for DURATION\n\n${HELP.maintenance}`);
        return addWindow(windows, env, what, values.for as string, { reason: values.reason as string | undefined, by: values.by as string | undefined }, { done: 'maintenance of', extended: 'extended the maintenance of', refused: 'no maintenance started' });
      case 'stop':
        if (!what) throw new UsageError(`maintenance stop needs an id or a target\n\n${HELP.maintenance}`);
        return removeWindows(windows, what, 'no ad hoc maintenance for', 'stopped N maintenance window(s); what still drifts is proposed at the next pass');
      case 'list':
        return listWindows(windows, outputFormat(values), 'no ad hoc maintenance (windows in services.yaml: control-plane check)');
      default:
        throw unknown;
    }
  });
}
