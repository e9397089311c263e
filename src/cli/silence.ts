// `control-plane silence`: add, list and remove silences.
import { realClock } from '../time/clock.js';
import { parseDuration } from '../domain/duration.js';
import { unknownTarget } from '../domain/schemas.js';
import { OUTPUT, UsageError, parse, outputFormat, table, userName } from './args.js';
import { config, desiredNow, stores } from './context.js';
import { HELP, help } from './help.js';

export async function cmdSilence(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const name = sub && HELP[`silence ${sub}`] ? `silence ${sub}` : 'silence';
  const { values, positionals } = parse(name, argv, { reason: { type: 'string' }, by: { type: 'string' }, ...OUTPUT });
  const [, what, duration] = positionals;
  if (values.help || !sub) return help(name);
  const cfg = config(env);
  switch (sub) {
    case 'add': {
      if (!what || !duration) throw new UsageError(`silence add needs a target and a duration\n\n${HELP.silence}`);
      let ms: number;
      try {
        ms = parseDuration(duration);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const st = stores(env, cfg).supervisorState;
      const unknown = unknownTarget(await desiredNow(env, cfg), what);
      if (unknown) {
        process.stderr.write(`control-plane: not silenced: ${unknown}\n`);
        return 1;
      }
      const s = await st.addSilence(what, ms, realClock.now(), { reason: values.reason as string | undefined, by: (values.by as string | undefined) ?? userName() });
      process.stdout.write(`${s.merged ? 'extended the silence of' : 'silenced'} ${s.target} until ${s.until} (id ${s.id})\n`);
      return 0;
    }
    case 'list': {
      const format = outputFormat(values);
      const list = await stores(env, cfg).supervisorState.activeSilences(realClock.now());
      if (format === 'json') process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write('no active silences\n');
      else process.stdout.write(table(['ID', 'TARGET', 'UNTIL', 'BY', 'REASON'], list.map((x) => [x.id, x.target, x.until.slice(0, 19).replace('T', ' '), x.by ?? '', x.reason ?? ''])));
      return 0;
    }
    case 'rm': {
      if (!what) throw new UsageError(`silence rm needs an id or a target\n\n${HELP.silence}`);
      const n = await stores(env, cfg).supervisorState.removeSilence(what);
      if (n === 0) {
        process.stderr.write(`control-plane: no silence ${what}\n`);
        return 1;
      }
      process.stdout.write(`removed ${n} silence(s)\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown silence command ${JSON.stringify(sub)}\n\n${HELP.silence}`);
  }
}
