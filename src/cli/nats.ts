// `control-plane nats status|message <seq>`: the events stream as NATS holds it — how much it
// keeps, how far each control plane's consumer has read — and one message by its stream sequence
// (a refused one names it), with whether the control plane would read it and why not.
import { connect, type NatsConnection } from 'nats';
import { checkEventMessage, EVENTS_STREAM } from '../nats/events.js';
import { natsOptions } from '../nats/link.js';
import { OUTPUT, outputFormat, parse, table, UsageError } from './args.js';
import { config, stores, withActions, withState } from './context.js';
import { realClock } from '../time/clock.js';
import { ACTION_STATES, isOpen } from '../domain/actions.js';
import type { KvActionStore } from '../nats/actions-kv.js';
import { HELP, help } from './help.js';

export async function cmdNats(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const { values, positionals } = parse(sub ? `nats ${sub}` : 'nats', argv.slice(sub ? 1 : 0), OUTPUT);
  if (values.help || !sub) return help('nats');
  if (sub === 'import') return importActions(env);
  if (sub !== 'status' && sub !== 'message') throw new UsageError(`unknown nats command ${JSON.stringify(sub)}\n\n${HELP.nats}`);
  const cfg = config(env);
  if (!cfg.nats) throw new UsageError('NATS_URL is not set: there is no NATS to ask (docs/operator/scale-out.md)');
  const seq = sub === 'message' ? Number(positionals[0]) : undefined;
  if (sub === 'message' && !(Number.isInteger(seq) && seq! > 0 && positionals.length === 1)) throw new UsageError(`nats message needs one stream sequence number (got ${JSON.stringify(positionals.join(' '))})\n\n${HELP.nats}`);
  const format = outputFormat(values);
  let nc: NatsConnection;
  try {
    nc = await connect({ ...(await natsOptions(cfg.nats, 'control-plane nats')), reconnect: false });
  } catch (err) {
    process.stderr.write(`cannot reach NATS: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const jsm = await nc.jetstreamManager();
    if (seq !== undefined) {
      const m = await jsm.streams.getMessage(EVENTS_STREAM, { seq }).catch(() => undefined);
      if (!m) {
        process.stderr.write(`no message ${seq} in ${EVENTS_STREAM} (removed by its age limit, or never there)\n`);
        return 1;
      }
      const text = new TextDecoder().decode(m.data);
      const c = checkEventMessage(m.subject, m.data, cfg.aliases);
      const verdict = c.ok ? 'an event of its node: read' : `refused: ${c.error}`;
      const out = { seq: m.seq, subject: m.subject, time: m.time.toISOString(), msg_id: m.header.get('Nats-Msg-Id') || null, verdict, data: text };
      process.stdout.write(format === 'json' ? `${JSON.stringify(out, null, 2)}\n` : `#${out.seq} on ${out.subject} at ${out.time}${out.msg_id ? ` (id ${out.msg_id})` : ''}\n${verdict}\n${text}\n`);
      return 0;
    }
    const info = await jsm.streams.info(EVENTS_STREAM).catch(() => undefined);
    if (!info) {
      process.stderr.write(`no stream ${EVENTS_STREAM} yet: a control plane with NATS_URL makes it at its start\n`);
      return 1;
    }
    const consumers = [];
    for await (const c of jsm.consumers.list(EVENTS_STREAM)) consumers.push({ name: c.name, pending: c.num_pending, ack_pending: c.num_ack_pending, delivered: c.delivered.stream_seq, ack_floor: c.ack_floor.stream_seq });
    const s = info.state;
    const stream = { messages: s.messages, bytes: s.bytes, first_seq: s.first_seq, last_seq: s.last_seq, first_ts: s.first_ts, last_ts: s.last_ts, replicas: info.config.num_replicas, max_age_days: info.config.max_age ? info.config.max_age / 86_400e9 : null };
    if (format === 'json') {
      process.stdout.write(`${JSON.stringify({ stream, consumers }, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(`${EVENTS_STREAM}: ${stream.messages} messages, ${stream.bytes} bytes, #${stream.first_seq}–#${stream.last_seq}, ${stream.replicas} replica(s), kept ${stream.max_age_days === null ? 'for ever' : `${stream.max_age_days} days`}\n`);
    process.stdout.write(table(['CONSUMER', 'PENDING', 'ACK PENDING', 'DELIVERED', 'ACK FLOOR'], consumers.map((c) => [c.name, String(c.pending), String(c.ack_pending), `#${c.delivered}`, `#${c.ack_floor}`])));
    return 0;
  } finally {
    await nc.close();
  }
}

/**
 * `nats import`: every action of the files (open and finished) into the bucket HOMELAB_ACTIONS, as
 * it is. Run with the control plane stopped, once, when an install moves to NATS; running it again
 * brings nothing twice.
 */
async function importActions(env: NodeJS.ProcessEnv): Promise<number> {
  const cfg = config(env);
  if (!cfg.nats) throw new UsageError('NATS_URL is not set: there is no bucket to import into (docs/operator/scale-out.md)');
  const files = stores(env, cfg).actions;
  const all = (await files.query({ states: ACTION_STATES, limit: Infinity, order: 'oldest' })).actions;
  const counts: Record<string, number> = { imported: 0, present: 0, 'id open here': 0 };
  await withActions(env, cfg, async (kv) => {
    for (const a of all) {
      const r = await (kv as KvActionStore).importAction(a);
      counts[r]!++;
      if (r === 'id open here') process.stderr.write(`not imported: ${a.id}@${a.instance} (${a.state}): ${a.id} is open in the bucket already\n`);
    }
  });
  process.stdout.write(`${all.length} action(s) in the files: ${counts.imported} imported, ${counts.present} in the bucket already, ${counts['id open here']} not imported (their id is open in the bucket)\n`);
  // The silences and ad hoc maintenance still active, into HOMELAB_STATE.
  const { supervisorState: fileState, evidence: fileEvidence } = stores(env, cfg);
  const now = realClock.now();
  await withState(env, cfg, async (kvState, kvEvidence) => {
    // The evidence of the open actions imported: the chat's messages and the page show it.
    let evidence = 0;
    for (const a of all.filter((x) => isOpen(x.state))) {
      const e = await fileEvidence.read(a.id, a.instance);
      if (e && !(await kvEvidence.read(a.id, a.instance))) {
        await kvEvidence.write(e);
        evidence++;
      }
    }
    process.stdout.write(`${evidence} open action(s)' evidence imported\n`);
    for (const [what, from, to] of [['silence', fileState.silenceWindows, kvState.silenceWindows], ['maintenance window', fileState.maintenanceWindows, kvState.maintenanceWindows]] as const) {
      const active = await from.current(now);
      let brought = 0;
      for (const w of active) if (await to.bring(w)) brought++;
      process.stdout.write(`${active.length} active ${what}(s) in the files: ${brought} imported, ${active.length - brought} in the bucket already\n`);
    }
  });
  return counts['id open here'] ? 1 : 0;
}
