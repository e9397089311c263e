// `control-plane updates`: check now, list what the last checks found, skip a version.
import { createLogger } from '../log.js';
import { serviceTarget, unknownTarget } from '../domain/schemas.js';
import type { Skips, UpdateEntry } from '../store/updates.js';
import { servicesToCheck } from '../loops/updates.js';
import { buildUpdateChecker } from '../app/parts.js';
import { registryAuth } from '../docker/registry.js';
import { realClock } from '../time/clock.js';
import { shortDigest } from '../domain/image-ref.js';
import { UsageError, parse, outputFormat, table, userName } from './args.js';
import { config, desiredNow, withState } from './context.js';
import type { Config } from '../config.js';
import type { UpdatesStore } from '../store/updates.js';
import { HELP, help } from './help.js';

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

export async function cmdUpdates(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const { values, positionals } = parse(sub ? `updates ${sub}` : 'updates', argv.slice(sub ? 1 : 0), { output: { type: 'string', short: 'o' }, by: { type: 'string' } });
  if (values.help || !sub) return help(sub ? `updates ${sub}` : 'updates');
  const cfg = config(env);
  const format = outputFormat(values);
  // The files, or with NATS_URL the documents in HOMELAB_STATE the leader reads.
  return withState(env, cfg, async (_, __, store) => {
    await store.refresh();
    return run(sub, positionals, values, format, env, cfg, store);
  });
}

async function run(sub: string, positionals: string[], values: { by?: string | boolean }, format: 'table' | 'json', env: NodeJS.ProcessEnv, cfg: Config, store: UpdatesStore): Promise<number> {
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
      const checker = buildUpdateChecker(cfg, registryAuth(cfg.updates.dockerConfig), store, () => desired, createLogger('silent'), realClock);
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
