// What a command needs from the environment, built one way: the configuration, an existing
// data directory (a read never creates one) and the desired state.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../config.js';
import { ConfigError } from '../errors.js';
import { loadDesired } from '../store/desired.js';
import { layout, type Layout } from '../store/paths.js';
import type { DesiredState } from '../domain/schemas.js';
import { openStores } from '../app/parts.js';
import { realClock } from '../time/clock.js';
import { connect, type NatsConnection } from 'nats';
import { KvDocs, STATE_BUCKET } from '../nats/docs-kv.js';
import { SupervisorState } from '../store/supervisor-state.js';
import { EvidenceStore } from '../store/evidence.js';
import { UpdatesStore } from '../store/updates.js';
import { KvEvidence } from '../nats/evidence-kv.js';
import { KvActionStore, ACTIONS_BUCKET } from '../nats/actions-kv.js';
import { natsOptions } from '../nats/link.js';
import type { ActionBackend } from '../store/action-backend.js';
import { createLogger } from '../log.js';

export function config(env: NodeJS.ProcessEnv): Config {
  return loadConfig(env);
}

/**
 * The data directory of an existing control plane. A read or an approval never creates one: run
 * from another directory, the default ./var/homelab would be a new, empty one.
 */
export function dataDir(env: NodeJS.ProcessEnv, cfg: Config): Layout {
  if (!env.HOMELAB_ROOT) process.stderr.write(`control-plane: HOMELAB_ROOT is not set; using ${cfg.homelabRoot}\n`);
  if (!existsSync(path.join(cfg.homelabRoot, 'actions'))) {
    throw new ConfigError('HOMELAB_ROOT', `no control plane data in ${cfg.homelabRoot} (no actions/ there); set HOMELAB_ROOT to the directory 'control-plane run' uses`);
  }
  return layout(cfg.homelabRoot);
}

export async function desiredNow(env: NodeJS.ProcessEnv, cfg: Config): Promise<DesiredState> {
  if (!env.HOSTS_DIR) process.stderr.write(`control-plane: HOSTS_DIR is not set; using ${cfg.hostsDir}\n`);
  return (await loadDesired(cfg.hostsDir)).desired;
}

/** The stores of an existing data directory, opened as `run` opens them (src/app/parts.ts). */
export function stores(env: NodeJS.ProcessEnv, cfg: Config): ReturnType<typeof openStores> & { layout: Layout } {
  const l = dataDir(env, cfg);
  return { ...openStores(l, realClock), layout: l };
}

/** How long a command waits for the actions bucket to be read. */
const KV_READ_MS = 10_000;

/** A connection to NATS for one command (no reconnecting); away → an error saying what lives there. */
async function natsFor(cfg: Config, what: string): Promise<NatsConnection> {
  return connect({ ...(await natsOptions(cfg.nats!, 'control-plane')), reconnect: false }).catch((err: Error) => {
    throw new Error(`${what} (NATS_URL is set), and NATS cannot be reached: ${err.message}`);
  });
}

/**
 * The actions as `run` has them: the files, or with NATS_URL the bucket HOMELAB_ACTIONS (read once,
 * closed after `fn`). NATS away: an error saying so, nothing changed.
 */
export async function withActions<T>(env: NodeJS.ProcessEnv, cfg: Config, fn: (actions: ActionBackend) => Promise<T>): Promise<T> {
  // With NATS no data directory is needed here: the CLI may run on any host that reaches NATS.
  if (!cfg.nats) return fn(stores(env, cfg).actions);
  const nc = await natsFor(cfg, `the actions are in NATS KV ${ACTIONS_BUCKET}`);
  const kv = new KvActionStore({ log: createLogger('silent'), clock: realClock });
  try {
    kv.begin(nc);
    await kv.ready(KV_READ_MS);
    return await fn(kv);
  } finally {
    await kv.stop();
    await nc.close();
  }
}

/**
 * The supervisor's state and the actions' evidence as `run` has them: state/'s files, or with
 * NATS_URL the bucket HOMELAB_STATE (silences, maintenance, notices, removal confirmations, evidence,
 * update checks and skips: `updates.refresh()` reads those before use).
 */
export async function withState<T>(env: NodeJS.ProcessEnv, cfg: Config, fn: (state: SupervisorState, evidence: EvidenceStore, updates: UpdatesStore) => Promise<T>): Promise<T> {
  if (!cfg.nats) {
    const s = stores(env, cfg);
    return fn(s.supervisorState, s.evidence, s.updates);
  }
  const nc = await natsFor(cfg, `the supervisor's state is in NATS KV ${STATE_BUCKET}`);
  try {
    const docs = new KvDocs();
    docs.begin(nc);
    const evidence = new KvEvidence();
    evidence.begin(nc);
    const l = layout(cfg.homelabRoot);
    return await fn(new SupervisorState(l.state, docs), new EvidenceStore(path.join(l.actions, 'evidence'), evidence), new UpdatesStore(l, docs));
  } finally {
    await nc.close();
  }
}
