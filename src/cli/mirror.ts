// `control-plane mirror`: copy another control plane's world files every few seconds.
import path from 'node:path';
import { createLogger } from '../log.js';
import { realClock } from '../time/clock.js';
import { Mirror } from '../mirror/mirror.js';
import { UsageError, parse, seconds, untilSignal } from './args.js';
import { config } from './context.js';
import { HELP, help } from './help.js';

export async function cmdMirror(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('mirror', argv, { from: { type: 'string' }, to: { type: 'string' }, every: { type: 'string' }, once: { type: 'boolean' } });
  if (values.help) return help('mirror');
  const from = values.from as string | undefined;
  const to = values.to as string | undefined;
  if (!from || !/^https?:\/\//.test(from) || !to) throw new UsageError(`mirror needs --from http(s)://host:port and --to DIR\n\n${HELP.mirror}`);
  const every = seconds(values.every as string | undefined, 10_000, '--every');
  const cfg = config(env);
  const log = createLogger(cfg.logLevel).child({ component: 'mirror' });
  const mirror = new Mirror(from, path.resolve(to), log);
  if (values.once) {
    const r = await mirror.once();
    for (const x of r) process.stdout.write(`${x.file}: ${x.outcome}${x.error ? ` (${x.error})` : ''}\n`);
    return r.some((x) => x.outcome === 'failed') ? 1 : 0;
  }
  log.info({ from, to, every_ms: every }, 'mirroring world state');
  const stop = new AbortController();
  void untilSignal().then(() => stop.abort());
  while (!stop.signal.aborted) {
    await mirror.once();
    await realClock.sleep(every, stop.signal);
  }
  return 0;
}
