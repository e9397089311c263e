// `control-plane check`, `replay` and `observe --once`: the offline commands, refused beside a
// running control plane where they would race it.
import { dependencyLine, dependencyList } from '../domain/dependencies.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { createLogger } from '../log.js';
import { buildObserver } from '../app/parts.js';
import { readLivePid } from '../store/pid.js';
import { realClock } from '../time/clock.js';
import { DesiredStore, loadDesired, problemWhere } from '../store/desired.js';
import { ensureLayout, layout, pidFile } from '../store/paths.js';
import { OUTPUT, UsageError, parse, outputFormat, type Command } from './args.js';
import { config } from './context.js';
import { HELP, help } from './help.js';

export async function cmdCheck(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('check', argv, { hosts: { type: 'string' }, ...OUTPUT });
  if (values.help) return help('check');
  const format = outputFormat(values);
  const hostsDir = path.resolve((values.hosts as string | undefined) ?? (env.HOSTS_DIR || './hosts'));
  if (!existsSync(hostsDir)) {
    if (values.hosts !== undefined) throw new UsageError(`--hosts ${values.hosts}: no such directory`);
    throw new ConfigError('HOSTS_DIR', `${hostsDir} does not exist: point HOSTS_DIR at the directory with <node>/services.yaml (the repository's hosts/ is an example)`);
  }
  const load = await loadDesired(hostsDir);
  const nodes = Object.values(load.desired);
  const services = nodes.reduce((n, d) => n + Object.keys(d.services).length, 0);
  const warnings = load.problems.length === 0 && nodes.length === 0 ? [`no node in ${hostsDir}: add <node>/services.yaml (see hosts/ in the repository for examples)`] : [];
  if (format === 'json') {
    const problems = load.problems.map((p) => ({ file: p.file, line: p.line, ...(p.col !== undefined ? { col: p.col } : {}), reason: p.reason }));
    process.stdout.write(`${JSON.stringify({ ok: problems.length === 0, hosts: hostsDir, nodes: nodes.length, services, dependencies: dependencyList(load.desired, undefined), problems, warnings }, null, 2)}\n`);
    return problems.length ? 1 : 0;
  }
  for (const w of warnings) process.stderr.write(`control-plane: warning: ${w}\n`);
  if (load.problems.length > 0) {
    for (const p of load.problems) process.stdout.write(`${problemWhere(p, path.relative(process.cwd(), p.file) || p.file)}: ${p.reason}\n`);
    process.stdout.write(`${load.problems.length} problem(s) in ${hostsDir}\n`);
    return 1;
  }
  process.stdout.write(`ok: ${nodes.length} node(s), ${services} service(s) in ${hostsDir}\n`);
  // Declared here; the running control plane adds what the engine reports (/status, the page).
  for (const d of dependencyList(load.desired, undefined)) process.stdout.write(`  depends: ${dependencyLine(d)}\n`);
  return 0;
}

async function observeOffline(env: NodeJS.ProcessEnv, fresh: boolean): Promise<number> {
  const cfg = config(env);
  const log = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, process.stderr as never);
  const l = layout(cfg.homelabRoot);
  await ensureLayout(l);
  const pid = await readLivePid(l.state);
  if (pid !== undefined) {
    process.stderr.write(
      `control-plane: 'control-plane run' (pid ${pid}) is using ${l.root}: it keeps world state current by itself. ` +
        `To ${fresh ? 'rebuild world state from every event' : 'observe offline'}, stop it first, run this again, then start it. ` +
        `(If pid ${pid} is not a control plane, remove ${pidFile(l.state)}.)\n`,
    );
    return 1;
  }
  const desired = new DesiredStore(cfg.hostsDir);
  await desired.reload();
  const started = performance.now();
  const observer = buildObserver(cfg, l, log, realClock, () => desired.current());
  if (fresh) await observer.initFresh();
  else await observer.init();
  const stats = await observer.pass();
  await observer.flush();
  const seconds = (performance.now() - started) / 1000;
  const world = observer.current();
  const c = observer.counters();
  const report = {
    events_applied: stats.applied,
    malformed: stats.malformed,
    duplicates: c.duplicate,
    lines_read: stats.lines,
    bytes_read: stats.bytes,
    nodes: Object.keys(world.nodes).length,
    services: Object.keys(world.services).length,
    unhealthy: Object.values(world.services).filter((s) => s.status !== 'healthy').length,
    seconds: Number(seconds.toFixed(3)),
  };
  process.stdout.write(
    `${fresh ? 'replayed' : 'observed'}: ${report.events_applied} events applied, ${report.malformed} malformed lines skipped, ` +
      `${report.nodes} nodes, ${report.services} services (${report.unhealthy} unhealthy) in ${report.seconds} s\n`,
  );
  return 0;
}

export const cmdReplay: Command = async (argv, env) => {
  const { values } = parse('replay', argv, {});
  return values.help ? help('replay') : observeOffline(env, true);
};

export const cmdObserve: Command = async (argv, env) => {
  const { values } = parse('observe', argv, { once: { type: 'boolean' } });
  if (values.help) return help('observe');
  if (!values.once) throw new UsageError(`observe needs --once (the continuous observer is part of 'run')\n\n${HELP.observe}`);
  return observeOffline(env, false);
};
