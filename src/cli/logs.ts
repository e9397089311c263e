// `control-plane logs`: the last log lines of a service's containers, read-only.
import { createLogger } from '../log.js';
import { buildInspector } from '../app/parts.js';
import { serviceTarget, unknownTarget } from '../domain/schemas.js';
import { MAX_LOG_LINES } from '../loops/inspector.js';
import { evidenceText } from './actions.js';
import { UsageError, parse } from './args.js';
import { config, desiredNow, stores } from './context.js';
import { HELP, help } from './help.js';

export async function cmdLogs(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('logs', argv, { lines: { type: 'string' } });
  if (values.help) return help('logs');
  const cfg = config(env);
  const target = positionals[0];
  const t = serviceTarget(target);
  const lines = values.lines === undefined ? cfg.logTailLines : Number(values.lines);
  if (!Number.isInteger(lines) || lines < 1 || lines > MAX_LOG_LINES) throw new UsageError(`--lines must be a whole number from 1 to ${MAX_LOG_LINES}, not ${JSON.stringify(values.lines)}\n\n${HELP.logs}`);
  if (!t || positionals.length > 1) throw new UsageError(`${positionals.length > 1 ? `one <node>/<service>, not ${positionals.length}` : target ? `${JSON.stringify(target)} is not <node>/<service>` : 'which service? <node>/<service> is needed'}\n\n${HELP.logs}`);
  const desired = await desiredNow(env, cfg);
  const unknown = unknownTarget(desired, target!);
  if (unknown) throw new UsageError(`not read: ${unknown}; logs reads only the containers services.yaml names for a service`);
  const inspector = buildInspector(cfg, { desired: () => desired, evidence: stores(env, cfg).evidence, log: createLogger('silent'), tailLines: lines });
  const e = await inspector.tail(t.node, t.service, lines);
  process.stdout.write(evidenceText(e));
  return e.error ? 1 : 0;
}
