#!/usr/bin/env node
// `control-plane <command>`: run, check, replay, observe.
import { realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { Observer } from './loops/observer.js';
import { readLivePid, startControlPlane } from './main.js';
import { DesiredStore, loadDesired } from './store/desired.js';
import { ensureLayout, layout } from './store/paths.js';
import { ACTION_STATES, describeAction, type Action, type ActionState, type Actor } from './domain/actions.js';
import { ActionStore, TransitionError } from './store/actions.js';
import { parseDuration, SupervisorState } from './store/supervisor-state.js';

const USAGE = `control-plane — keeps a homelab's Docker services in their desired state

Usage: control-plane <command> [options]

Commands:
  run        run the control plane (observer and loops) until stopped
  check      validate every hosts/<node>/services.yaml
  replay     rebuild world state from all events, offline
  observe    bring world state up to date from the checkpoint, then exit (--once)
  actions    list, show, approve or reject actions; confirm a held bulk removal
  silence    silence proposals for a node or a service for a while

Run 'control-plane <command> --help' for a command's options.
Configuration comes from the environment; see the README for every variable.`;

const HELP: Record<string, string> = {
  run: `Usage: control-plane run

Runs the observer and every loop until SIGINT or SIGTERM. Reads HOMELAB_ROOT (default
./var/homelab) and HOSTS_DIR (default ./hosts). Telegram is on when TELEGRAM_BOT_TOKEN is set.`,
  check: `Usage: control-plane check [--hosts DIR]

Validates every <DIR>/<node>/services.yaml (default: HOSTS_DIR or ./hosts).
Exit 0 when all are valid; otherwise exit 1 and print file:line: reason for each problem.`,
  replay: `Usage: control-plane replay

Rebuilds world/services.json, world/nodes.json and the observer checkpoint from every event
under HOMELAB_ROOT/events, ignoring the old checkpoint. Refuses while 'run' is running on the
same HOMELAB_ROOT. Prints what it did: events applied, malformed lines, nodes, services, seconds.`,
  observe: `Usage: control-plane observe --once

Resumes from the observer checkpoint, reads every event not read yet, publishes world state and
exits. Refuses while 'run' is running on the same HOMELAB_ROOT.`,
};

HELP.actions = `Usage:
  control-plane actions list [--state S] [--json]   open actions, or those in state S (pending, approved,
                                                    running, completed, failed, rejected, cancelled, all)
  control-plane actions show <id> [--json]          the open instance of <id>, or its newest finished one
  control-plane actions approve <id> [--by NAME]    approve a pending action (the executor runs it)
  control-plane actions reject <id> [--by NAME]     reject a pending action
  control-plane actions confirm-removal <node>      let a held bulk removal of <node>'s services proceed

Approving by hand works too: mv actions/pending/<id>.json actions/approved/
Exit 1 with the action's current state when it is not pending any more.`;
HELP.silence = `Usage:
  control-plane silence add <node>[/<service>] <duration> [--reason TEXT] [--by NAME]
  control-plane silence list [--json]
  control-plane silence rm <id | node[/service]>

While a silence lasts no action is proposed for that node or service; world state is still
recorded. Durations: 30m, 2h, 1d, 1h30m.`;

class UsageError extends Error {}

type Opts = Record<string, { type: 'string' | 'boolean' }>;
function parse(command: string, argv: string[], options: Opts): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP[command] ?? USAGE}`);
  }
}

function config(env: NodeJS.ProcessEnv): Config {
  return loadConfig(env);
}

async function cmdCheck(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('check', argv, { hosts: { type: 'string' } });
  if (values.help) return help('check');
  const hostsDir = path.resolve((values.hosts as string | undefined) ?? env.HOSTS_DIR ?? './hosts');
  const load = await loadDesired(hostsDir);
  if (load.problems.length > 0) {
    for (const p of load.problems) process.stdout.write(`${path.relative(process.cwd(), p.file) || p.file}:${p.line}: ${p.reason}\n`);
    process.stdout.write(`${load.problems.length} problem(s) in ${hostsDir}\n`);
    return 1;
  }
  const nodes = Object.values(load.desired);
  const services = nodes.reduce((n, d) => n + Object.keys(d.services).length, 0);
  process.stdout.write(`ok: ${nodes.length} node(s), ${services} service(s) in ${hostsDir}\n`);
  return 0;
}

async function observeOffline(env: NodeJS.ProcessEnv, fresh: boolean): Promise<number> {
  const cfg = config(env);
  const log = createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, process.stderr as never);
  const l = layout(cfg.homelabRoot);
  await ensureLayout(l);
  const pid = await readLivePid(l.state);
  if (pid !== undefined) {
    process.stderr.write(`control-plane run is running on ${l.root} (pid ${pid}); stop it first, or delete state/observer_checkpoint.json and let it replay\n`);
    return 1;
  }
  const desired = new DesiredStore(cfg.hostsDir);
  await desired.reload();
  const started = performance.now();
  const observer = new Observer({ layout: l, config: cfg, log, now: Date.now, desired: () => desired.current() });
  if (fresh) await observer.initFresh();
  else await observer.init();
  const stats = await observer.pass();
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

async function cmdRun(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('run', argv, {});
  if (values.help) return help('run');
  const cfg = config(env);
  const log = createLogger(cfg.logLevel);
  if (cfg.telegram.token) {
    log.info({ chat: cfg.telegram.chatId, admins: cfg.telegram.adminIds.length }, 'Telegram is on');
  } else {
    log.info('Telegram is off: set TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID and TELEGRAM_ADMIN_IDS to approve actions from your phone (README: "Telegram in 3 steps")');
  }
  const running = await startControlPlane(cfg, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await running.stop();
  log.info('stopped');
  return 0;
}

function actionLine(a: Action): string {
  const who = a.approved_by ?? a.rejected_by;
  const extra = a.cancel_reason ? ` (${a.cancel_reason})` : a.error ? ` (${a.error})` : who ? ` (by ${who.name ?? who.id ?? who.via})` : '';
  return `${a.state.padEnd(9)} ${a.id}  ${a.type}/${a.risk}  ${a.node}${a.service ? `/${a.service}` : ''}  ${a.trigger}  ${a.updated_at}${extra}`;
}

async function cmdActions(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('actions', argv, { state: { type: 'string' }, json: { type: 'boolean' }, by: { type: 'string' } });
  const [sub, arg] = positionals;
  if (values.help || !sub) return help('actions');
  const cfg = config(env);
  const l = layout(cfg.homelabRoot);
  await ensureLayout(l);
  const store = new ActionStore(l.actions);
  const by = (values.by as string | undefined) ?? userName();
  switch (sub) {
    case 'list': {
      const st = (values.state as string | undefined) ?? 'open';
      let list: Action[];
      if (st === 'open') list = await store.listOpen();
      else if (st === 'all') list = (await Promise.all(ACTION_STATES.map((x) => store.list(x)))).flat();
      else if ((ACTION_STATES as readonly string[]).includes(st)) list = await store.list(st as ActionState);
      else throw new UsageError(`unknown state ${JSON.stringify(st)}; one of open, all, ${ACTION_STATES.join(', ')}`);
      if (values.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write(`no ${st} actions\n`);
      else for (const a of list) process.stdout.write(`${actionLine(a)}\n`);
      return 0;
    }
    case 'show': {
      if (!arg) throw new UsageError(`actions show needs an id\n\n${HELP.actions}`);
      const a = await store.get(arg);
      if (!a) {
        process.stderr.write(`control-plane: no action ${arg}\n`);
        return 1;
      }
      process.stdout.write(values.json ? `${JSON.stringify(a, null, 2)}\n` : `${actionLine(a)}\n${describeAction(a)}\n${a.history.map((h) => `  ${h.at} ${h.state} by ${h.by}${h.note ? ` (${h.note})` : ''}`).join('\n')}\n`);
      return 0;
    }
    case 'approve':
    case 'reject': {
      if (!arg) throw new UsageError(`actions ${sub} needs an id\n\n${HELP.actions}`);
      const actor: Actor = { via: 'cli', name: by };
      try {
        const a = await store.transition({
          id: arg,
          from: 'pending',
          to: sub === 'approve' ? 'approved' : 'rejected',
          by: `cli:${by}`,
          patch: sub === 'approve' ? { approved_by: actor } : { rejected_by: actor },
        });
        process.stdout.write(`${sub === 'approve' ? 'approved' : 'rejected'} ${a.id} (instance ${a.instance})\n`);
        return 0;
      } catch (err) {
        if (err instanceof TransitionError) {
          const cur = err.current;
          process.stderr.write(
            cur ? `control-plane: ${arg} is not pending any more: it is ${cur.state}${cur.cancel_reason ? ` (${cur.cancel_reason})` : ''} since ${cur.updated_at}\n` : `control-plane: no action ${arg}\n`,
          );
          return 1;
        }
        throw err;
      }
    }
    case 'confirm-removal': {
      if (!arg) throw new UsageError(`actions confirm-removal needs a node\n\n${HELP.actions}`);
      const st = new SupervisorState(l.state);
      await st.ensureDirs();
      await st.confirmRemoval(arg, by, Date.now());
      process.stdout.write(`confirmed: the removal of ${arg}'s services proceeds at the next supervisor pass\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown actions command ${JSON.stringify(sub)}\n\n${HELP.actions}`);
  }
}

async function cmdSilence(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse('silence', argv, { reason: { type: 'string' }, by: { type: 'string' }, json: { type: 'boolean' } });
  const [sub, target, duration] = positionals;
  if (values.help || !sub) return help('silence');
  const cfg = config(env);
  const l = layout(cfg.homelabRoot);
  await ensureLayout(l);
  const st = new SupervisorState(l.state);
  switch (sub) {
    case 'add': {
      if (!target || !duration) throw new UsageError(`silence add needs a target and a duration\n\n${HELP.silence}`);
      let ms: number;
      try {
        ms = parseDuration(duration);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const s = await st.addSilence(target, ms, Date.now(), { reason: values.reason as string | undefined, by: (values.by as string | undefined) ?? userName() });
      process.stdout.write(`silenced ${s.target} until ${s.until} (id ${s.id})\n`);
      return 0;
    }
    case 'list': {
      const list = await st.activeSilences(Date.now());
      if (values.json) process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write('no active silences\n');
      else for (const s of list) process.stdout.write(`${s.id}  ${s.target}  until ${s.until}${s.reason ? `  ${s.reason}` : ''}${s.by ? `  (by ${s.by})` : ''}\n`);
      return 0;
    }
    case 'rm': {
      if (!target) throw new UsageError(`silence rm needs an id or a target\n\n${HELP.silence}`);
      const n = await st.removeSilence(target);
      if (n === 0) {
        process.stderr.write(`control-plane: no silence ${target}\n`);
        return 1;
      }
      process.stdout.write(`removed ${n} silence(s)\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown silence command ${JSON.stringify(sub)}\n\n${HELP.silence}`);
  }
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'cli';
  }
}

function help(command?: string): number {
  process.stdout.write(`${command ? HELP[command] : USAGE}\n`);
  return 0;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await cmdRun(rest, env);
      case 'check':
        return await cmdCheck(rest, env);
      case 'replay': {
        const { values } = parse('replay', rest, {});
        return values.help ? help('replay') : await observeOffline(env, true);
      }
      case 'observe': {
        const { values } = parse('observe', rest, { once: { type: 'boolean' } });
        if (values.help) return help('observe');
        if (!values.once) throw new UsageError(`observe needs --once (the continuous observer is part of 'run')\n\n${HELP.observe}`);
        return await observeOffline(env, false);
      }
      case 'actions':
        return await cmdActions(rest, env);
      case 'silence':
        return await cmdSilence(rest, env);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return help();
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    }
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

function isEntryPoint(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`control-plane: ${(err as Error).stack ?? err}\n`);
    process.exitCode = 1;
  },
);
