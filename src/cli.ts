#!/usr/bin/env node
// `control-plane <command>`: run, check, replay, observe.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkEnvironment, ConfigError, durationSettingMs, loadAgentConfig, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { Observer } from './loops/observer.js';
import { readLivePid, startControlPlane } from './main.js';
import { VERSION } from './status.js';
import { realClock } from './time/clock.js';
import { DesiredStore, loadDesired, problemWhere } from './store/desired.js';
import { ensureLayout, layout, pidFile, type Layout } from './store/paths.js';
import { describeAction, statesFrom, type Action, type ActionState, type Actor } from './domain/actions.js';
import { EvidenceStore, evidenceFacts, type Evidence } from './store/evidence.js';
import { Inspector } from './loops/inspector.js';
import { ActionStore, TransitionError } from './store/actions.js';
import { parseDuration, SupervisorState } from './store/supervisor-state.js';
import { Agent, LocalSink, PushSink } from './agent/agent.js';
import { describeTarget, engineFor, engineOptionsOf, sshTarget } from './docker/engine.js';
import { addHostKey, fetchHostKey, knownHostsVerdict } from './docker/host-trust.js';
import { Mirror } from './mirror/mirror.js';
import { serviceTarget, unknownTarget, type DesiredNode, type DesiredState } from './domain/schemas.js';
import { MAX_LOG_LINES } from './docker/inspect.js';
import { parseDesiredText } from './store/desired.js';
import { UpdatesStore, type Skips, type UpdateEntry } from './store/updates.js';
import { UpdateChecker, servicesToCheck } from './loops/updates.js';
import { RegistryClient } from './docker/registry.js';
import { shortDigest } from './domain/image-ref.js';

const USAGE = `control-plane — keeps a homelab's Docker services in their desired state

Usage: control-plane <command> [options]

Commands:
  run        run the control plane (observer and loops) until stopped
  check      validate every hosts/<node>/services.yaml
  replay     rebuild world state from all events, offline
  observe    bring world state up to date from the checkpoint, then exit (--once)
  actions    list, show, approve or reject actions; confirm a held bulk removal
  agent      the node agent: watch this node's Docker Engine and disks, write events
  mirror     copy another control plane's world state every few seconds
  silence    silence proposals for a node or a service for a while
  logs       the last log lines of a service's containers (read-only)
  updates    check for newer images now; list what the last checks found; skip a version
  hosts      trust a node's SSH host key (pinned in SSH_KNOWN_HOSTS)

Run 'control-plane <command> --help' for a command's options; 'control-plane --version' for the version.
Lists and checks print aligned tables, or JSON with -o json. Exit codes: 0 ok; 1 the operation
failed or problems were found; 2 a usage or configuration error.
Configuration comes from the environment; docs/operator/configuration.md lists every variable.`;

const HELP: Record<string, string> = {
  run: `Usage: control-plane run

Runs the observer and every loop until SIGINT or SIGTERM. Reads HOMELAB_ROOT (default
./var/homelab) and HOSTS_DIR (default ./hosts). Telegram is on when TELEGRAM_BOT_TOKEN is set.`,
  check: `Usage: control-plane check [--hosts DIR] [-o table|json]

Validates every <DIR>/<node>/services.yaml (default: HOSTS_DIR or ./hosts).
Exit 0 when all are valid (an empty directory is a warning); otherwise exit 1 and print
file:line[:column]: reason for each problem.`,
  replay: `Usage: control-plane replay

Rebuilds world/services.json, world/nodes.json and the observer checkpoint from every event
under HOMELAB_ROOT/events, ignoring the old checkpoint. Refuses while 'run' is running on the
same HOMELAB_ROOT. Prints what it did: events applied, malformed lines, nodes, services, seconds.`,
  observe: `Usage: control-plane observe --once

Resumes from the observer checkpoint, reads every event not read yet, publishes world state and
exits. Refuses while 'run' is running on the same HOMELAB_ROOT.`,
};

HELP.logs = `Usage: control-plane logs <node>/<service> [--lines N]

Reads the last N (default LOG_TAIL_LINES, at most 200) log lines of each container
hosts/<node>/services.yaml names for the service, from that node's Docker Engine, with the
container's state, exit code, OOM kill, restarts and health. Read-only; secrets are redacted.
Anything services.yaml does not name is refused without asking the engine.
Exit 0 read; 1 the engine could not be asked; 2 usage (or not a service services.yaml names).`;

HELP.updates = `Usage:
  control-plane updates check [<node>[/<service>]] [-o table|json]   ask the registries now
  control-plane updates list [-o table|json]                          what the last checks found
  control-plane updates skip <node>/<service> [--by NAME]             never propose the newer image found for it

A service is checked when services.yaml watches it and its updates: (or its node's
docker.updates) is notify, approve or auto. 'check' reads each container's image and local digest
from the node's engine and asks the image's registry what its tag names now (HEAD, so Docker Hub
does not count a pull), then writes HOMELAB_ROOT/world/updates.json; a running control plane
proposes what it finds at once. Registry credentials come from DOCKER_CONFIG/config.json;
INSECURE_REGISTRIES lists registries spoken to over plain HTTP (loopback ones always are).
Exit 0 checked (newer images or not); 1 a service could not be checked; 2 usage or configuration.`;
HELP['updates check'] = HELP.updates;
HELP['updates list'] = HELP.updates;
HELP['updates skip'] = HELP.updates;

HELP.hosts = `Usage: control-plane hosts trust <node> [--yes]

Connects to the ssh:// target of hosts/<node>/services.yaml, stops in the key exchange (nothing
is authenticated or run), prints the host key's type and SHA256 fingerprint, and after a y/N
question adds it to SSH_KNOWN_HOSTS (default HOMELAB_ROOT/ssh/known_hosts). Compare the
fingerprint with the node's own first: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there.
--yes adds it without asking (for scripts). A key that differs from the one listed is never
replaced: the line must be removed by hand after checking the node.
Exit 0 trusted (or already); 1 not added (declined, changed, revoked, unreachable); 2 usage.`;
HELP['hosts trust'] = HELP.hosts;

HELP.actions = `Usage:
  control-plane actions list [--state S[,S…]] [-o table|json]   open actions, or those in the states given
  control-plane actions show <id> [-o table|json]              the open instance of <id>, or its newest finished one
  control-plane actions approve <id> [--by NAME] [--yes]       approve a pending action (the executor runs it)
  control-plane actions reject <id> [--by NAME]                reject a pending action
  control-plane actions confirm-removal <node>                 let a held bulk removal of <node>'s services proceed

States: pending, approved, running, completed, failed, rejected, cancelled; also open (the first
three) and all. Approving by hand works too: mv actions/pending/<id>.json actions/approved/
Exit 0 done; 1 the operation failed (not pending any more, no such action, nothing held); 2 usage
or configuration. Run 'control-plane actions <command> --help' for one command.`;
HELP['actions list'] = `Usage: control-plane actions list [--state S[,S…]] [-o table|json] [--json]

Lists actions in the states given (default: open = pending, approved, running), newest change
first, as an aligned table with a header, or as a JSON array. States: pending, approved, running,
completed, failed, rejected, cancelled, open, all; several separated by commas.`;
HELP['actions show'] = `Usage: control-plane actions show <id> [-o table|json] [--json]

Prints the open instance of <id>, or its newest finished one: what it does, its state, and its
history. Exit 1 when there is no such action.`;
HELP['actions approve'] = `Usage: control-plane actions approve <id> [--by NAME] [--yes]

Approves a pending action; the executor carries it out at once. A guarded action (redeploy,
disk_cleanup) asks for confirmation on a terminal; --yes answers it (for scripts). Exit 1 with the
action's current state when it is not pending any more.`;
HELP['actions reject'] = `Usage: control-plane actions reject <id> [--by NAME]

Rejects a pending action. Its id is not proposed again until its cooldown runs out. Exit 1 with
the action's current state when it is not pending any more.`;
HELP['actions confirm-removal'] = `Usage: control-plane actions confirm-removal <node>

A services.yaml change that removes many services at once is held until an operator confirms it.
This confirms the removal held for <node>; exit 1 when nothing is held for it.`;
HELP.silence = `Usage:
  control-plane silence add <node>[/<service>] <duration> [--reason TEXT] [--by NAME]
  control-plane silence list [-o table|json]
  control-plane silence rm <id | node[/service]>

While a silence lasts no action is proposed for that node or service; world state is still
recorded. Durations: 30m, 2h, 1d, 1h30m. The node and service must be in hosts/ (HOSTS_DIR);
adding a silence for a target that has one extends it. Exit 1 when the target is unknown or
there is nothing to remove.`;
HELP['silence add'] = HELP.silence;
HELP['silence list'] = HELP.silence;
HELP['silence rm'] = HELP.silence;
HELP.agent = `Usage: control-plane agent --node NAME [options]

Watches this node's Docker Engine (event stream, plus an inspection every interval) and disks,
and writes events: service_healthy / service_recovered, containers_not_running,
healthcheck_failed, container_restarting, disk_pressure, node_heartbeat.

Options (each also an environment variable):
  --node NAME          AGENT_NODE          the node's name, as in hosts/<node>/
  --services FILE      AGENT_SERVICES      services.yaml to watch (default HOSTS_DIR/<node>/services.yaml)
  --events-dir DIR     AGENT_EVENTS_DIR    write events here (default HOMELAB_ROOT/events) ...
  --push URL           AGENT_PUSH_URL      ... or push them to http://<control plane>:18180/ingest/events
  --token TOKEN        AGENT_TOKEN         this node's token from the control plane's INGEST_TOKENS
  --interval 30s       AGENT_INTERVAL_S    inspection and heartbeat interval (seconds)
  --disk-paths /,/srv  AGENT_DISK_PATHS    paths whose file systems are watched (high at >= 90 % used,
                                           normal again below 85 %)
  --docker-socket P    AGENT_DOCKER_SOCKET this node's engine (default /var/run/docker.sock)
  --state-dir DIR      AGENT_STATE_DIR     seq counter, last statuses and the push spool
                                           (default HOMELAB_ROOT/agent/<node>)
  --once                                   one inspection, then exit`;
HELP.mirror = `Usage: control-plane mirror --from URL --to DIR [--every 10s] [--once]

Copies URL/world/services.json and URL/world/nodes.json into DIR every 10 s (with ETags, so an
unchanged world costs a 304), writing atomically and only on change. When the source is down or
answers something that is not a world file, the last good copy stays.`;

class UsageError extends Error {}

type Opts = Record<string, { type: 'string' | 'boolean'; short?: string }>;
function parse(command: string, argv: string[], options: Opts): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError(`${optionProblem((err as Error).message, Object.keys(options))}\n\n${HELP[command] ?? USAGE}`);
  }
}

/** Node's parser error in our words: `unknown option --stat (did you mean --state?)`. */
function optionProblem(message: string, options: readonly string[]): string {
  const unknown = /^Unknown option '(-{1,2}[^']*)'/.exec(message)?.[1];
  if (unknown) {
    const guess = didYouMean(unknown.replace(/^-+/, '').split('=')[0]!, [...options, 'help']);
    return `unknown option ${unknown}${guess ? ` (did you mean --${guess}?)` : ''}`;
  }
  const missing = /^Option '(-{1,2}[^']*?)(?: <value>)?' argument missing/.exec(message)?.[1];
  if (missing) return `${missing.split(',').at(-1)!.trim()} needs a value`;
  return message.split('. To specify')[0]!;
}

/** The candidate closest to `word` (two edits at most, or a prefix of it), if any. */
function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 1 : dist(word, c);
    if (d <= 2 && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function config(env: NodeJS.ProcessEnv): Config {
  return loadConfig(env);
}

async function cmdCheck(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
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
    process.stdout.write(`${JSON.stringify({ ok: problems.length === 0, hosts: hostsDir, nodes: nodes.length, services, problems, warnings }, null, 2)}\n`);
    return problems.length ? 1 : 0;
  }
  for (const w of warnings) process.stderr.write(`control-plane: warning: ${w}\n`);
  if (load.problems.length > 0) {
    for (const p of load.problems) process.stdout.write(`${problemWhere(p, path.relative(process.cwd(), p.file) || p.file)}: ${p.reason}\n`);
    process.stdout.write(`${load.problems.length} problem(s) in ${hostsDir}\n`);
    return 1;
  }
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
  const observer = new Observer({ layout: l, config: cfg, log, now: realClock.now, desired: () => desired.current() });
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

async function cmdRun(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('run', argv, {});
  if (values.help) return help('run');
  const cfg = config(env);
  checkEnvironment(cfg);
  const log = createLogger(cfg.logLevel);
  if (cfg.telegram.token) {
    log.info({ chat: cfg.telegram.chatId, admins: cfg.telegram.adminIds.length }, 'Telegram is on');
  } else {
    log.info('Telegram is off: set TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID and TELEGRAM_ADMIN_IDS to approve actions from your phone (README: "Telegram in 3 steps")');
  }
  const note = nodeSupportNote(process.versions.node);
  if (note) log.warn({ node: process.versions.node }, note);
  const running = await startControlPlane(cfg, log);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  log.info({ signal }, 'stopping');
  // A second signal, or a stop that overruns its budget, ends the process at once.
  const force = (why: string) => {
    log.error(`${why}: exiting now`);
    process.exit(1);
  };
  process.once('SIGINT', () => force('second signal'));
  process.once('SIGTERM', () => force('second signal'));
  realClock.timer((cfg.shutdownGraceS + 5) * 1000, () => force(`stop took longer than SHUTDOWN_GRACE_S (${cfg.shutdownGraceS} s) + 5 s`));
  await running.stop();
  log.info('stopped');
  // Nothing may keep the process alive after a stop (a Telegram call still waiting for a server
  // that does not answer, an engine connection): the stop has recorded everything that matters.
  process.exit(0);
}

/** What the start says about the Node it runs on: Node 20 is past its end of life (2026-04-30). */
export function nodeSupportNote(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major === 20) return `Node ${version} reached its end of life on 2026-04-30 (no more security fixes): run the control plane on Node 24 LTS, as the image does`;
  if (major < 20) return `Node ${version} is not supported: run the control plane on Node 24 LTS`;
  return undefined;
}

const OUTPUT: Opts = { output: { type: 'string', short: 'o' }, json: { type: 'boolean' } };

function outputFormat(values: Record<string, string | boolean | undefined>): 'table' | 'json' {
  const o = (values.output as string | undefined) ?? (values.json ? 'json' : 'table');
  if (o !== 'table' && o !== 'json') throw new UsageError(`-o must be table or json, not ${JSON.stringify(o)}`);
  return o;
}

/** Columns padded to their widest cell, with a header, as kubectl prints them. */
function table(headers: string[], rows: string[][]): string {
  const width = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]!))).join('  ').trimEnd();
  return `${[line(headers), ...rows.map(line)].join('\n')}\n`;
}

/**
 * The data directory of an existing control plane. A read or an approval never creates one: run
 * from another directory, the default ./var/homelab would be a new, empty one.
 */
function dataDir(env: NodeJS.ProcessEnv, cfg: Config): Layout {
  if (!env.HOMELAB_ROOT) process.stderr.write(`control-plane: HOMELAB_ROOT is not set; using ${cfg.homelabRoot}\n`);
  if (!existsSync(path.join(cfg.homelabRoot, 'actions'))) {
    throw new ConfigError('HOMELAB_ROOT', `no control plane data in ${cfg.homelabRoot} (no actions/ there); set HOMELAB_ROOT to the directory 'control-plane run' uses`);
  }
  return layout(cfg.homelabRoot);
}

async function desiredNow(env: NodeJS.ProcessEnv, cfg: Config): Promise<DesiredState> {
  if (!env.HOSTS_DIR) process.stderr.write(`control-plane: HOSTS_DIR is not set; using ${cfg.hostsDir}\n`);
  return (await loadDesired(cfg.hostsDir)).desired;
}

function target(a: Action): string {
  return `${a.node}${a.service ? `/${a.service}` : ''}`;
}

function detail(a: Action): string {
  const who = a.approved_by ?? a.rejected_by;
  return a.cancel_reason ?? a.error ?? (who ? `by ${who.name ?? who.id ?? who.via}` : '');
}

function actionsTable(list: readonly Action[]): string {
  return table(
    ['STATE', 'ID', 'TYPE', 'RISK', 'TARGET', 'TRIGGER', 'VERIFIED', 'UPDATED', 'DETAIL'],
    list.map((a) => [a.state, a.id, a.type, a.risk, target(a), a.trigger, verifiedCell(a), a.updated_at.slice(0, 19).replace('T', ' '), detail(a)]),
  );
}

/** Whether the service reported healthy after a completed restart, redeploy or update. */
function verifiedCell(a: Action): string {
  if (a.state !== 'completed' || a.type === 'disk_cleanup') return '-';
  return a.verified === true ? 'yes' : a.verified === false ? 'no' : 'waiting';
}

/** `--state pending,failed` → the states (domain/actions.ts `statesFrom`); a bad one is a usage error. */
/** Evidence as the terminal shows it: one line of facts, then each container's last log lines. */
function evidenceText(e: Evidence): string {
  const out = [`evidence (read ${e.collected_at}): ${evidenceFacts(e).join('; ') || 'no containers named'}`];
  for (const c of e.containers) if (c.logs.length) out.push(`--- last log lines of ${c.name}${c.logs_truncated ? ' (older lines left out)' : ''}`, ...c.logs);
  return `${out.join('\n')}\n`;
}

function statesOf(text: string | undefined): ActionState[] {
  try {
    return statesFrom(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Asks a yes/no question on the terminal; anything but y or yes is no. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^(y|yes)$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** Approves or rejects one pending action; a guarded approval asks first on a terminal. */
async function decide(sub: 'approve' | 'reject', arg: string, store: ActionStore, by: string, yes: boolean): Promise<number> {
  const current = await store.get(arg);
  if (sub === 'approve' && current?.state === 'pending' && current.risk === 'guarded' && !yes && process.stdin.isTTY) {
    if (!(await confirm(`Approve ${current.id}: ${describeAction(current)}?`))) {
      process.stderr.write('control-plane: not approved\n');
      return 1;
    }
  }
  const actor: Actor = { via: 'cli', name: by };
  try {
    const a = await store.transition({
      id: arg,
      from: 'pending',
      to: sub === 'approve' ? 'approved' : 'rejected',
      by: `cli:${by}`,
      ...(current?.state === 'pending' ? { instance: current.instance } : {}),
      patch: sub === 'approve' ? { approved_by: actor } : { rejected_by: actor },
    });
    process.stdout.write(`${sub === 'approve' ? 'approved' : 'rejected'} ${a.id} (instance ${a.instance})\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof TransitionError)) throw err;
    const cur = err.current;
    process.stderr.write(cur ? `control-plane: ${arg} is not pending any more: it is ${cur.state}${cur.cancel_reason ? ` (${cur.cancel_reason})` : ''} since ${cur.updated_at}\n` : `control-plane: no action ${arg} (control-plane actions list shows the open ones, --state all every one)\n`);
    return 1;
  }
}

async function cmdActions(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const name = sub && HELP[`actions ${sub}`] ? `actions ${sub}` : 'actions';
  const { values, positionals } = parse(name, argv, { state: { type: 'string' }, by: { type: 'string' }, yes: { type: 'boolean', short: 'y' }, ...OUTPUT });
  const arg = positionals[1];
  if (values.help || !sub) return help(name);
  const cfg = config(env);
  const by = (values.by as string | undefined) ?? userName();
  switch (sub) {
    case 'list': {
      const format = outputFormat(values);
      const store = new ActionStore(dataDir(env, cfg).actions);
      // Newest first, as GET /actions and the bot list them.
      const { actions: list } = await store.query({ states: statesOf(values.state as string | undefined), limit: Infinity });
      if (format === 'json') process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write(`no ${(values.state as string | undefined) ?? 'open'} actions\n`);
      else process.stdout.write(actionsTable(list));
      return 0;
    }
    case 'show': {
      if (!arg) throw new UsageError(`actions show needs an id\n\n${HELP['actions show']}`);
      const format = outputFormat(values);
      const a = await new ActionStore(dataDir(env, cfg).actions).get(arg);
      if (!a) {
        process.stderr.write(`control-plane: no action ${arg} (control-plane actions list shows the open ones, --state all every one)\n`);
        return 1;
      }
      const evidence = await new EvidenceStore(path.join(dataDir(env, cfg).actions, 'evidence')).read(a.id, a.instance);
      process.stdout.write(
        format === 'json'
          ? `${JSON.stringify(evidence ? { ...a, evidence } : a, null, 2)}\n`
          : `${actionsTable([a])}\n${describeAction(a)}\n${a.history.map((h) => `  ${h.at} ${h.state} by ${h.by}${h.note ? ` (${h.note})` : ''}`).join('\n')}\n${evidence ? evidenceText(evidence) : ''}`,
      );
      return 0;
    }
    case 'approve':
    case 'reject':
      if (!arg) throw new UsageError(`actions ${sub} needs an id\n\n${HELP[`actions ${sub}`]}`);
      return decide(sub, arg, new ActionStore(dataDir(env, cfg).actions), by, values.yes === true);
    case 'confirm-removal': {
      if (!arg) throw new UsageError(`actions confirm-removal needs a node\n\n${HELP['actions confirm-removal']}`);
      const st = new SupervisorState(dataDir(env, cfg).state);
      const held = (await st.notices()).filter((n) => n.kind === 'bulk_removal_held' && n.state === 'open');
      if (!held.some((n) => n.node === arg)) {
        process.stderr.write(`control-plane: nothing is held for ${JSON.stringify(arg)} (held now: ${held.map((n) => n.node).join(', ') || 'none'})\n`);
        return 1;
      }
      await st.confirmRemoval(arg, by, realClock.now());
      process.stdout.write(`confirmed: the removal of ${arg}'s services proceeds at the next supervisor pass\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown actions command ${JSON.stringify(sub)}\n\n${HELP.actions}`);
  }
}

async function cmdLogs(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
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
  const inspector = new Inspector({ desired: () => desired, evidence: new EvidenceStore(path.join(dataDir(env, cfg).actions, 'evidence')), engineOptions: engineOptionsOf(cfg), log: createLogger('silent'), tailLines: lines });
  const e = await inspector.tail(t.node, t.service, lines);
  process.stdout.write(evidenceText(e));
  return e.error ? 1 : 0;
}

function updatesTable(entries: readonly UpdateEntry[], skips: Skips): string {
  const rows: string[][] = [];
  for (const e of entries) {
    const key = `${e.node}/${e.service}`;
    if (e.error) rows.push([key, '-', 'error', '-', '-', e.error]);
    for (const i of e.images) {
      const skipped = i.remote_digest ? skips[key]?.find((x) => x.digest === i.remote_digest) : undefined;
      const note = i.error ?? (skipped ? `${skipped.reason.replace('_', ' ')} ${skipped.at.slice(0, 16)}` : [i.version ? `version ${i.version}` : '', i.created ? `built ${i.created.slice(0, 10)}` : ''].filter(Boolean).join(', '));
      rows.push([key, i.image, skipped ? `${i.status} (skipped)` : i.status, shortDigest(i.local_digest), shortDigest(i.remote_digest), note]);
    }
  }
  return table(['SERVICE', 'IMAGE', 'STATUS', 'LOCAL', 'REMOTE', 'NOTE'], rows);
}

async function cmdUpdates(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const { values, positionals } = parse(sub ? `updates ${sub}` : 'updates', argv.slice(sub ? 1 : 0), { output: { type: 'string', short: 'o' }, by: { type: 'string' } });
  if (values.help || !sub) return help(sub ? `updates ${sub}` : 'updates');
  const cfg = config(env);
  const l = dataDir(env, cfg);
  await ensureLayout(l);
  const store = new UpdatesStore(l.world, l.state);
  const format = outputFormat(values);
  switch (sub) {
    case 'check': {
      const target = positionals[0];
      if (positionals.length > 1) throw new UsageError(HELP.updates!);
      const desired = await desiredNow(env, cfg);
      if (target) {
        const unknown = unknownTarget(desired, target);
        if (unknown) throw new UsageError(`not checked: ${unknown}`);
      }
      if (servicesToCheck(desired, target).length === 0) {
        process.stderr.write(`nothing to check: no watched service${target ? ` in ${target}` : ''} has updates: notify, approve or auto in services.yaml\n`);
        return 0;
      }
      const checker = new UpdateChecker({
        desired: () => desired,
        store,
        registry: new RegistryClient({ insecure: cfg.updates.insecure, credentials: new Map(Object.entries(cfg.updates.credentials)) }),
        engineOptions: engineOptionsOf(cfg),
        log: createLogger('silent'),
        intervalMs: cfg.updates.intervalMs,
      });
      const entries = await checker.check(target);
      process.stdout.write(format === 'json' ? `${JSON.stringify(entries, null, 2)}\n` : updatesTable(entries, store.skips()));
      return entries.some((e) => e.error || e.images.some((i) => i.status === 'error')) ? 1 : 0;
    }
    case 'list': {
      const entries = Object.values(store.updates()).sort((a, b) => (`${a.node}/${a.service}` < `${b.node}/${b.service}` ? -1 : 1));
      process.stdout.write(format === 'json' ? `${JSON.stringify(entries, null, 2)}\n` : entries.length ? updatesTable(entries, store.skips()) : 'no update checks yet: control-plane updates check\n');
      return 0;
    }
    case 'skip': {
      const t = serviceTarget(positionals[0]);
      if (!t || positionals.length > 1) throw new UsageError(HELP.updates!);
      const key = `${t.node}/${t.service}`;
      const e = store.updates()[key];
      const newer = (e?.images ?? []).filter((i) => i.status === 'image_update_available' && i.remote_digest);
      if (newer.length === 0) {
        process.stderr.write(`nothing to skip: the last check of ${key} found no newer image\n`);
        return 1;
      }
      const by = typeof values.by === 'string' ? values.by : `cli:${userName()}`;
      for (const i of newer) await store.skip(key, { digest: i.remote_digest!, at: new Date().toISOString(), reason: 'skipped', by });
      process.stdout.write(`skipped for ${key}: ${newer.map((i) => `${i.image} ${shortDigest(i.remote_digest)}`).join(', ')}; a pending image update for it is cancelled at the next pass, and only a newer version is proposed again\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown updates command ${JSON.stringify(sub)}\n\n${HELP.updates}`);
  }
}

async function cmdHosts(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const { values, positionals } = parse(sub ? `hosts ${sub}` : 'hosts', argv.slice(sub ? 1 : 0), { yes: { type: 'boolean' } });
  if (values.help || !sub) return help(sub ? `hosts ${sub}` : 'hosts');
  if (sub !== 'trust') throw new UsageError(`unknown hosts command ${JSON.stringify(sub)}\n\n${HELP.hosts}`);
  const node = positionals[0];
  if (!node || positionals.length > 1) throw new UsageError(HELP.hosts!);
  const cfg = config(env);
  const desired = await desiredNow(env, cfg);
  const target = desired[node]?.docker;
  if (!target) throw new UsageError(`no node ${JSON.stringify(node)} in ${cfg.hostsDir}${Object.keys(desired).length ? ` (nodes: ${Object.keys(desired).sort().join(', ')})` : ''}`);
  const url = target.url;
  if (!url?.startsWith('ssh://')) throw new UsageError(`${node} is not reached over SSH (its docker: target is ${describeTarget(target)}); only ssh:// targets have host keys`);
  const { host, port } = sshTarget(url);
  const file = cfg.ssh.knownHosts;
  const key = await fetchHostKey(host, port);
  process.stdout.write(`${node}: ${url} presents the ${key.type} key ${key.fingerprint}\n`);
  const verdict = await knownHostsVerdict(file, host, port, key);
  if (verdict.ok) {
    process.stdout.write(`already trusted (${file}, line ${verdict.line})\n`);
    return 0;
  }
  if (verdict.kind !== 'unknown') {
    const why = verdict.kind === 'revoked' ? `that key is marked @revoked (line ${verdict.line})` : `${file} lists ${verdict.listed.fingerprint} for it (line ${verdict.line}): the key CHANGED. The node was reinstalled, or something else answers at that address. Check on the node; if the new key is right, remove line ${verdict.line} by hand and run this again`;
    process.stderr.write(`not added: ${why}\n`);
    return 1;
  }
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new UsageError('not added: confirm on a terminal, or pass --yes after checking the fingerprint');
    if (!(await confirm(`Compare it with the node's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub there). Trust it?`))) {
      process.stderr.write('not added\n');
      return 1;
    }
  }
  await addHostKey(file, host, port, key);
  process.stdout.write(`added to ${file}; ${node}'s engine is reached from now on\n`);
  return 0;
}

async function cmdSilence(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
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
      const st = new SupervisorState(dataDir(env, cfg).state);
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
      const list = await new SupervisorState(dataDir(env, cfg).state).activeSilences(realClock.now());
      if (format === 'json') process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write('no active silences\n');
      else process.stdout.write(table(['ID', 'TARGET', 'UNTIL', 'BY', 'REASON'], list.map((x) => [x.id, x.target, x.until.slice(0, 19).replace('T', ' '), x.by ?? '', x.reason ?? ''])));
      return 0;
    }
    case 'rm': {
      if (!what) throw new UsageError(`silence rm needs an id or a target\n\n${HELP.silence}`);
      const n = await new SupervisorState(dataDir(env, cfg).state).removeSilence(what);
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

function seconds(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback;
  const n = durationSettingMs(text);
  if (!Number.isFinite(n) || n < 1000) throw new UsageError(`${what}: ${JSON.stringify(text)} is not a duration of at least 1 s (e.g. 30, 30s, 2m)`);
  return n;
}

async function untilSignal(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

async function cmdAgent(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('agent', argv, {
    node: { type: 'string' },
    services: { type: 'string' },
    'events-dir': { type: 'string' },
    push: { type: 'string' },
    token: { type: 'string' },
    interval: { type: 'string' },
    'disk-paths': { type: 'string' },
    'docker-socket': { type: 'string' },
    'state-dir': { type: 'string' },
    once: { type: 'boolean' },
  });
  if (values.help) return help('agent');
  const cfg = config(env);
  const flag = (k: string) => values[k] as string | undefined;
  const a = loadAgentConfig(cfg, env, {
    node: flag('node'),
    services: flag('services'),
    eventsDir: flag('events-dir'),
    push: flag('push'),
    token: flag('token'),
    interval: flag('interval'),
    diskPaths: flag('disk-paths'),
    dockerSocket: flag('docker-socket'),
    stateDir: flag('state-dir'),
  });
  const { node, servicesFile, intervalMs, diskPaths, stateDir } = a;
  const log = createLogger(cfg.logLevel).child({ component: 'agent', node });

  // services.yaml is read at every pass; a broken edit keeps the last good version.
  let lastGood: DesiredNode | undefined;
  const readServices = (): DesiredNode => {
    try {
      const r = parseDesiredText(node, servicesFile, readFileSync(servicesFile, 'utf8'));
      if (r.ok) lastGood = r.value;
      else if (lastGood) log.warn({ problems: r.problems }, 'services file invalid; keeping the last good version');
      else throw new Error(r.problems.map((p) => `${p.file}:${p.line}: ${p.reason}`).join('; '));
    } catch (err) {
      if (!lastGood) throw err;
    }
    return lastGood!;
  };
  readServices();
  const docker = engineFor({ socket: a.dockerSocket });
  const sink = a.push ? new PushSink(a.push.url, a.push.token, path.join(stateDir, 'spool'), log) : new LocalSink(a.eventsDir, node);
  const agent = new Agent({ node, desired: readServices, docker, sink, stateDir, log, intervalMs, diskPaths, once: values.once === true });
  await agent.init();
  if (values.once) {
    await agent.pass();
    const waiting = sink instanceof PushSink ? (await sink.spooled()).length : 0;
    if (waiting > 0) {
      process.stderr.write(`agent ${node}: ${waiting} event(s) wait in the spool: ${(sink as PushSink).lastError ?? 'not pushed yet'}\n`);
      (sink as PushSink).stop();
      return 1;
    }
    process.stdout.write(`agent ${node}: ${agent.stats.emitted} event(s) ${a.push ? 'pushed' : 'written'}\n`);
    return 0;
  }
  await agent.start();
  log.info({ services: servicesFile, output: a.push?.url ?? a.eventsDir, intervalMs, instance: agent.instance }, `agent for ${node} running (instance ${agent.instance})`);
  await untilSignal();
  await agent.stop();
  if (sink instanceof PushSink) sink.stop();
  return 0;
}

async function cmdMirror(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
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

const COMMANDS = ['run', 'check', 'replay', 'observe', 'actions', 'silence', 'agent', 'mirror', 'logs', 'updates', 'hosts', 'version', 'help'];

function commandGuess(command: string): string {
  const guess = didYouMean(command, COMMANDS);
  return guess ? ` (did you mean ${guess}?)` : '';
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
      case 'agent':
        return await cmdAgent(rest, env);
      case 'mirror':
        return await cmdMirror(rest, env);
      case 'silence':
        return await cmdSilence(rest, env);
      case 'logs':
        return await cmdLogs(rest, env);
      case 'updates':
        return await cmdUpdates(rest, env);
      case 'hosts':
        return await cmdHosts(rest, env);
      case '--version':
      case '-V':
      case 'version':
        process.stdout.write(`control-plane ${VERSION}\n`);
        return 0;
      case undefined:
        // No command is a usage error (exit 2), as with any command-line tool: say what there is.
        process.stderr.write(`control-plane: a command is needed\n\n${USAGE}\n`);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        return help();
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}${commandGuess(command)}\n\n${USAGE}`);
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
