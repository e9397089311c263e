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
