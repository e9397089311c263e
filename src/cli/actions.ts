// `control-plane actions`: list, show, approve or reject actions; confirm a held bulk removal.
import { realClock } from '../time/clock.js';
import { budgetWords, describeAction, type Action, type Actor } from '../domain/actions.js';
import { evidenceFacts, type Evidence } from '../store/evidence.js';
import { TransitionError, type ActionBackend } from '../store/action-backend.js';
import { OUTPUT, UsageError, parse, outputFormat, table, statesOf, confirm, userName } from './args.js';
import { config, withActions, withState } from './context.js';
import { HELP, help } from './help.js';

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

/** Evidence as the terminal shows it: one line of facts, then each container's last log lines. */
export function evidenceText(e: Evidence): string {
  const out = [`evidence (read ${e.collected_at}): ${evidenceFacts(e).join('; ') || 'no containers named'}`];
  for (const c of e.containers) if (c.logs.length) out.push(`--- last log lines of ${c.name}${c.logs_truncated ? ' (older lines left out)' : ''}`, ...c.logs);
  return `${out.join('\n')}\n`;
}

/** Approves or rejects one pending action; a guarded approval asks first on a terminal. */
async function decide(sub: 'approve' | 'reject', arg: string, store: ActionBackend, by: string, yes: boolean): Promise<number> {
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

export async function cmdActions(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
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
      // Newest first, as GET /actions and the bot list them.
      const states = statesOf(values.state as string | undefined);
      const { actions: list } = await withActions(env, cfg, (store) => store.query({ states, limit: Infinity }));
      if (format === 'json') process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) process.stdout.write(`no ${(values.state as string | undefined) ?? 'open'} actions\n`);
      else process.stdout.write(actionsTable(list));
      return 0;
    }
    case 'show': {
      if (!arg) throw new UsageError(`actions show needs an id\n\n${HELP['actions show']}`);
      const format = outputFormat(values);
      const a = await withActions(env, cfg, (actions) => actions.get(arg));
      if (!a) {
        process.stderr.write(`control-plane: no action ${arg} (control-plane actions list shows the open ones, --state all every one)\n`);
        return 1;
      }
      // In the data directory, or with NATS_URL in KV (a host reaching the actions over NATS has no data directory).
      const evidence = await withState(env, cfg, (_, ev) => ev.read(a.id, a.instance));
      process.stdout.write(
        format === 'json'
          ? `${JSON.stringify(evidence ? { ...a, evidence } : a, null, 2)}\n`
          : `${actionsTable([a])}\n${describeAction(a)}\n${budgetWords(a.budget, (iso) => iso).map((l) => `${l}\n`).join('')}${a.history.map((h) => `  ${h.at} ${h.state} by ${h.by}${h.note ? ` (${h.note})` : ''}`).join('\n')}\n${evidence ? evidenceText(evidence) : ''}`,
      );
      return 0;
    }
    case 'approve':
    case 'reject':
      if (!arg) throw new UsageError(`actions ${sub} needs an id\n\n${HELP[`actions ${sub}`]}`);
      return withActions(env, cfg, (actions) => decide(sub, arg, actions, by, values.yes === true));
    case 'confirm-removal': {
      if (!arg) throw new UsageError(`actions confirm-removal needs a node\n\n${HELP['actions confirm-removal']}`);
      return withState(env, cfg, async (st) => {
        const held = (await st.notices()).filter((n) => n.kind === 'bulk_removal_held' && n.state === 'open');
        if (!held.some((n) => n.node === arg)) {
          process.stderr.write(`control-plane: nothing is held for ${JSON.stringify(arg)} (held now: ${held.map((n) => n.node).join(', ') || 'none'})\n`);
          return 1;
        }
        await st.confirmRemoval(arg, by, realClock.now());
        process.stdout.write(`confirmed: the removal of ${arg}'s services proceeds at the next supervisor pass\n`);
        return 0;
      });
    }
    default:
      throw new UsageError(`unknown actions command ${JSON.stringify(sub)}\n\n${HELP.actions}`);
  }
}
