// The three things the executor may do to a node: restart named containers, recreate them from
// their own configuration (with rollback), and prune what is unused. Nothing else.
import type Docker from 'dockerode';
import { OperationError } from '../errors.js';
import { realClock, type Clock } from '../time/clock.js';
import { imageSettingsChanged, mergeImageConfig, type ContainerConfig, type ImageDefaults } from './config-merge.js';


export interface OpContext {
  docker: Docker;
  /** Epoch ms by which the whole action must be done. */
  deadline: number;
  now: () => number;
  /** Seconds Docker gives a container to stop before it is killed. */
  stopTimeoutS?: number;
  /** Poll interval while waiting for a container's state, ms. */
  pollMs?: number;
  /** How long a started container must stay running, ms. */
  settleMs?: number;
  /** Told of each step done, so an interrupted action can say how far it got. */
  step?: (done: string) => void;
  /**
   * Told, before anything changes, which of the containers ran: a restart interrupted half-way
   * (the process killed) starts them again at the next start.
   */
  ranBefore?: (names: string[]) => Promise<void>;
  /** Waits between polls (default: the real clock). */
  clock?: Clock;
}

const POLL_MS = 200;
/** How long a (re)started container must keep running before it counts as up. */
const SETTLE_MS = 1000;


function remainingS(ctx: OpContext): number {
  return Math.max(1, Math.floor((ctx.deadline - ctx.now()) / 1000));
}

function describeState(info: Docker.ContainerInspectInfo): string {
  const h = info.State.Health?.Status;
  return h ? `${info.State.Status} (${h})` : info.State.Status;
}

/** Waits until the container runs, and is healthy where it has a health check. */
export async function waitUp(ctx: OpContext, c: Docker.Container, name: string): Promise<Docker.ContainerInspectInfo> {
  const started = ctx.now();
  let last: Docker.ContainerInspectInfo | undefined;
  let upSince: number | undefined;
  let upStartedAt: string | undefined;
  for (;;) {
    last = await c.inspect();
    const hasCheck = Boolean(last.Config.Healthcheck && last.Config.Healthcheck.Test && last.Config.Healthcheck.Test[0] !== 'NONE');
    const healthy = !hasCheck || last.State.Health?.Status === 'healthy';
    if (last.State.Running && !last.State.Restarting && healthy) {
      // It must stay up a moment: a process that dies right after exec looks "running" at first.
      if (upSince === undefined || last.State.StartedAt !== upStartedAt) {
        upSince = ctx.now();
        upStartedAt = last.State.StartedAt;
      }
      if (ctx.now() - upSince >= (ctx.settleMs ?? SETTLE_MS)) return last;
    } else {
      upSince = undefined;
    }
    if (last.State.Status === 'exited' || last.State.Status === 'dead') {
      throw new OperationError(`${name} ${last.State.Status} with code ${last.State.ExitCode}${last.State.Error ? ` (${last.State.Error})` : ''} instead of running`);
    }
    if (ctx.now() >= ctx.deadline) {
      throw new OperationError(`${name} is ${describeState(last)} ${Math.round((ctx.now() - started) / 1000)} s after the start, not running${hasCheck ? ' and healthy' : ''}`);
    }
    await (ctx.clock ?? realClock).sleep(Math.min(ctx.pollMs ?? POLL_MS, Math.max(0, ctx.deadline - ctx.now())));
  }
}

export async function inspectNamed(ctx: OpContext, name: string): Promise<{ c: Docker.Container; info: Docker.ContainerInspectInfo }> {
  const info = await ctx.docker
    .getContainer(name)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
  // The engine also answers to an id prefix: a name that happens to look like the start of
  // another container's id must not reach that container.
  if (!info || info.Name !== `/${name}`) throw new OperationError(`container ${name} not found`);
  // From here on by id: a rename must not lose track of it.
  return { c: ctx.docker.getContainer(info.Id), info };
}

export type RestartResult = {
  container: string;
  id: string;
  old_state: string;
  new_state: string;
  ms: number;
};

/** Restarts each container in turn; fails on the first that is missing or does not come back. */
export async function restartContainers(ctx: OpContext, names: readonly string[]): Promise<RestartResult[]> {
  // Check they all exist first, so a missing one fails before anything was touched.
  const targets = [];
  for (const name of names) targets.push({ name, ...(await inspectNamed(ctx, name)) });
  await ctx.ranBefore?.(targets.filter((t) => t.info.State.Running).map((t) => t.name));
  const results: RestartResult[] = [];
  for (const t of targets) {
    const started = ctx.now();
    await t.c.restart({ t: Math.min(ctx.stopTimeoutS ?? 10, remainingS(ctx)) });
    const after = await waitUp(ctx, t.c, t.name);
    results.push({ container: t.name, id: t.info.Id.slice(0, 12), old_state: describeState(t.info), new_state: describeState(after), ms: ctx.now() - started });
  }
  return results;
}

export type RecreateResult = {
  container: string;
  old_id: string;
  new_id: string;
  image: string;
  pulled: boolean;
  pull_error?: string;
  /** The settings that came from the old image and now follow the new one (Cmd, Env, …). */
  image_settings?: string[];
  ms: number;
};

/** Tries to pull `image`; no registry (or no network) is noted, not fatal. */
async function tryPull(ctx: OpContext, image: string): Promise<{ pulled: boolean; error?: string }> {
  try {
    const stream = await ctx.docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      ctx.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
    return { pulled: true };
  } catch (err) {
    const e = err as { json?: { message?: string }; message?: string };
    return { pulled: false, error: (e.json?.message ?? e.message ?? String(err)).slice(0, 300) };
  }
}

/**
 * The create options for a new container in place of `info`: the operator's settings kept, the
 * settings that came from `info`'s image taken from `newImage` (config-merge.ts). Without image
 * configurations (unknown) the container's own configuration is reproduced as it is.
 */
export function recreateOptions(
  info: Docker.ContainerInspectInfo,
  name: string,
  images?: { old: ImageDefaults; new: ImageDefaults },
): { create: Docker.ContainerCreateOptions; extraNetworks: [string, Docker.EndpointSettings][] } {
  const merged = images ? mergeImageConfig(info.Config as unknown as ContainerConfig, images.old, images.new) : info.Config;
  const config: Record<string, unknown> & { Hostname?: string } = { ...merged };
  // A hostname Docker derived from the old id would pin the new container to the old identity.
  if (config.Hostname && info.Id.startsWith(config.Hostname)) delete config.Hostname;
  // In another container's network namespace the hostname is that container's: the engine refuses
  // one of its own ("conflicting options: hostname and the network mode").
  if ((info.HostConfig.NetworkMode ?? '').startsWith('container:')) {
    delete config.Hostname;
    delete config.Domainname;
  }
  const shortId = info.Id.slice(0, 12);
  const networks = Object.entries(info.NetworkSettings.Networks ?? {}).map(([net, ep]) => {
    const settings: Docker.EndpointSettings = {
      Aliases: ((ep.Aliases ?? []) as string[]).filter((a) => a !== shortId && a !== info.Id && a !== config.Hostname),
      ...(ep.IPAMConfig ? { IPAMConfig: ep.IPAMConfig } : {}),
      ...(ep.Links ? { Links: ep.Links } : {}),
    };
    return [net, settings] as [string, Docker.EndpointSettings];
  });
  const mode = info.HostConfig.NetworkMode ?? 'default';
  const primary = networks.find(([n]) => n === mode) ?? networks[0];
  const userNetwork = primary && !['host', 'none', 'default', 'bridge'].includes(primary[0]) && !mode.startsWith('container:');
  const create: Docker.ContainerCreateOptions = {
    ...(config as unknown as Docker.ContainerCreateOptions),
    name,
    HostConfig: info.HostConfig,
    ...(userNetwork && primary ? { NetworkingConfig: { EndpointsConfig: { [primary[0]]: primary[1] } } } : {}),
  };
  const extraNetworks = userNetwork ? networks.filter(([n]) => n !== primary![0]) : [];
  return { create, extraNetworks };
}

/**
 * The image defaults on both sides of a recreate: the image `info` runs (by id) and the image its
 * reference names now. Undefined when either cannot be read: then nothing can tell the operator's
 * settings from the image's, and the configuration is kept as it is (noted in a step).
 */
async function imageDefaults(ctx: OpContext, info: Docker.ContainerInspectInfo): Promise<{ old: ImageDefaults; new: ImageDefaults } | { unknown: string }> {
  const read = (ref: string) =>
    ctx.docker
      .getImage(ref)
      .inspect()
      .then((i) => ({ id: i.Id, config: (i.Config ?? {}) as ImageDefaults }))
      .catch((err: { statusCode?: number; message?: string }) => ({ error: err.statusCode === 404 ? 'not on the node' : (err.message ?? String(err)) }));
  const [old, next] = await Promise.all([read(info.Image), read(info.Config.Image)]);
  if ('error' in old) return { unknown: `image ${info.Image.slice(7, 19)} ${old.error}` };
  if ('error' in next) return { unknown: `image ${info.Config.Image} ${next.error}` };
  return { old: old.config, new: next.config };
}

/**
 * Recreates one container from its current configuration (Watchtower style): inspect → pull →
 * stop → rename old → create → start → wait → remove old. If the new one fails, it is removed
 * and the old one is put back, running.
 */
export async function recreateContainer(ctx: OpContext, name: string, opts: { pull?: boolean; from?: Docker.ContainerInspectInfo; networkMode?: string } = {}): Promise<RecreateResult> {
  const started = ctx.now();
  const { c: old, info } = await inspectNamed(ctx, name);
  const image = info.Config.Image;
  // An image update has put the exact image under the tag already: pulling the tag again could
  // fetch a newer one than the operator approved.
  const pull = opts.pull === false ? { pulled: false } : await tryPull(ctx, image);
  // `from`: the configuration of an earlier container of this name (an image update's rollback
  // puts back the container as it was before, not as the update left it).
  const source = opts.from ?? info;
  const images = await imageDefaults(ctx, source);
  const { create, extraNetworks } = recreateOptions(source, name, 'unknown' in images ? undefined : images);
  // A container in another's network namespace whose container was recreated: it joins the new one.
  if (opts.networkMode) create.HostConfig = { ...create.HostConfig, NetworkMode: opts.networkMode };
  const followed = 'unknown' in images ? [] : imageSettingsChanged(source.Config as ImageDefaults, create as ImageDefaults);
  const stopT = Math.min(ctx.stopTimeoutS ?? 10, remainingS(ctx));
  const wasRunning = info.State.Running;
  const step = ctx.step ?? (() => {});
  if ('unknown' in images) step(`kept ${name}'s configuration as it is: ${images.unknown}`);
  if (wasRunning) {
    await old.stop({ t: stopT });
    step(`stopped ${name} (${info.Id.slice(0, 12)})`);
  }
  const parked = parkedName(name, info.Id);
  await old.rename({ name: parked });
  step(`renamed it to ${parked}`);
  let fresh: Docker.Container | undefined;
  try {
    fresh = await ctx.docker.createContainer(create);
    step(`created the new ${name} (${fresh.id.slice(0, 12)})`);
    for (const [net, settings] of extraNetworks) {
      await ctx.docker.getNetwork(net).connect({ Container: fresh.id, EndpointConfig: settings });
    }
    await fresh.start();
    step(`started the new ${name}`);
    const up = await waitUp(ctx, fresh, name);
    await old.remove({ v: false });
    step(`removed ${parked}`);
    return {
      container: name,
      old_id: info.Id.slice(0, 12),
      new_id: up.Id.slice(0, 12),
      image,
      pulled: pull.pulled,
      ...(pull.error ? { pull_error: pull.error } : {}),
      ...(followed.length ? { image_settings: followed } : {}),
      ms: ctx.now() - started,
    };
  } catch (err) {
    const reason = (err as { json?: { message?: string }; message?: string }).json?.message ?? (err as Error).message;
    // Put the old one back exactly as it was.
    if (fresh) await fresh.remove({ force: true, v: false }).catch(() => {});
    await old.rename({ name });
    // Said only when the engine says so: an old container in a namespace that is gone cannot start.
    const restarted = wasRunning ? await old.start().then(() => 'and started', (e: { json?: { message?: string }; message?: string }) => `but it did not start (${(e.json?.message ?? e.message ?? String(e)).trim()})`) : '';
    throw new OperationError(`new ${name} did not start (${reason.trim()}); the old container was put back${restarted ? ` ${restarted}` : ''}`);
  }
}

/** The name the old container is parked under while its replacement starts. */
export function parkedName(name: string, id: string): string {
  return `${name}-hcp-old-${id.slice(0, 8)}`;
}

const PARKED_RE = /^(.+)-hcp-old-[0-9a-f]{8}$/;

/**
 * After a redeploy was interrupted (a kill, or a shutdown whose grace ran out): for each named
 * container, an old one still parked as `<name>-hcp-old-…` is put back (renamed and started)
 * when `<name>` is missing or not running — a new container that never came up is removed
 * first — and removed when the new `<name>` runs. Returns what it did, one line each.
 */
export async function recoverParked(ctx: OpContext, names: readonly string[]): Promise<string[]> {
  const done: string[] = [];
  for (const name of names) {
    // The engine's name filter matches substrings: keep only exact `<name>-hcp-old-<8 hex>`.
    const list = await ctx.docker.listContainers({ all: true, filters: { name: [`${name}-hcp-old-`] } });
    const parked = list
      .map((c) => (c.Names ?? []).map((n) => n.replace(/^\//, '')).find((n) => PARKED_RE.exec(n)?.[1] === name))
      .filter((n): n is string => n !== undefined);
    for (const old of parked) {
      const current = await ctx.docker
        .getContainer(name)
        .inspect()
        .then((i) => (i.Name === `/${name}` ? i : undefined))
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode === 404) return undefined;
          throw err;
        });
      if (current?.State.Running) {
        await ctx.docker.getContainer(old).remove({ force: true, v: false });
        done.push(`removed ${old}: the new ${name} runs`);
        continue;
      }
      if (current) {
        await ctx.docker.getContainer(current.Id).remove({ force: true, v: false });
        done.push(`removed the new ${name} (${current.Id.slice(0, 12)}, ${current.State.Status}): it never came up`);
      }
      await ctx.docker.getContainer(old).rename({ name });
      await ctx.docker.getContainer(name).start().catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err; // 304: already running
      });
      done.push(`put back ${name} from ${old} and started it`);
    }
  }
  return done;
}

/**
 * After an interrupted restart: each named container (one that ran before it) that is not running
 * now is started again. Returns what it did, one line each.
 */
export async function startIfStopped(ctx: OpContext, names: readonly string[]): Promise<string[]> {
  const done: string[] = [];
  for (const name of names) {
    const found = await inspectNamed(ctx, name).catch((err: unknown) => {
      if (err instanceof OperationError) return undefined;
      throw err;
    });
    if (!found) {
      done.push(`${name} is not there any more: nothing started`);
      continue;
    }
    if (found.info.State.Running) {
      done.push(`${name} runs (${found.info.State.Status})`);
      continue;
    }
    await found.c.start().catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err;
    });
    done.push(`started ${name} again: it ran before the interrupted restart and was ${found.info.State.Status}`);
  }
  return done;
}

export type CleanupResult = {
  containers: { removed: number; bytes: number };
  images: { removed: number; bytes: number };
  build_cache: { removed: number; bytes: number; error?: string; skipped?: string };
  bytes_total: number;
  /** The label filter applied, when the node's `docker.prune_label` is set. */
  label?: string;
};

/**
 * Prunes stopped containers, dangling images and build cache. Never volumes. With `label`
 * (services.yaml `docker.prune_label`) only containers and images carrying it are pruned, and the
 * build cache is left alone: its prune has no label filter, so it would reach everything.
 */
export async function diskCleanup(ctx: OpContext, label?: string): Promise<CleanupResult> {
  const byLabel = label ? { label: [label] } : {};
  const containers = await ctx.docker.pruneContainers({ filters: byLabel });
  const images = await ctx.docker.pruneImages({ filters: { dangling: ['true'], ...byLabel } });
  let build: CleanupResult['build_cache'] = { removed: 0, bytes: 0 };
  if (label) {
    build = { removed: 0, bytes: 0, skipped: 'prune_label is set and the build cache has no label filter' };
  } else {
    try {
      const b = await ctx.docker.pruneBuilder();
      build = { removed: (b as { CachesDeleted?: string[] }).CachesDeleted?.length ?? 0, bytes: b.SpaceReclaimed ?? 0 };
    } catch (err) {
      // Engines without BuildKit have no build cache to prune.
      build = { removed: 0, bytes: 0, error: ((err as Error).message ?? '').slice(0, 200) };
    }
  }
  const result: CleanupResult = {
    containers: { removed: containers.ContainersDeleted?.length ?? 0, bytes: containers.SpaceReclaimed ?? 0 },
    images: { removed: images.ImagesDeleted?.length ?? 0, bytes: images.SpaceReclaimed ?? 0 },
    build_cache: build,
    bytes_total: 0,
    ...(label ? { label } : {}),
  };
  result.bytes_total = result.containers.bytes + result.images.bytes + result.build_cache.bytes;
  return result;
}
