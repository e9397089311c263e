// The image update (docs/design/updates.md): pull exactly the approved digest, put it under the
// tag the containers name, recreate them from their own configuration, watch them through the
// verification window, and go back to the old image if they do not come up healthy.
import type Docker from 'dockerode';
import type { UpdateImage } from '../domain/actions.js';
import { familiar, parseImageRef, shortDigest } from '../domain/image-ref.js';
import { OperationError, RefusedError, RolledBackError } from '../errors.js';
import { realClock } from '../time/clock.js';
import type { Credentials } from './registry.js';
import { inspectNamed, recreateContainer, type OpContext, type RecreateResult } from './ops.js';

export interface UpdateContext extends OpContext {
  /** How long the new containers are watched after they started, ms (VERIFY_AFTER_S). */
  verifyMs: number;
  /** The world's word on the service from reports made at or after `since` (epoch ms), if any. */
  reported?: (since: number) => { status: 'healthy' | 'unhealthy'; reason: string | null } | undefined;
  /** Registry credentials for the pull, by registry domain. */
  credentials?: (domain: string) => Credentials | undefined;
  /** A deadline for the rollback, ms from when it starts (default 120 s). */
  rollbackMs?: number;
}

export type UpdateResult = {
  containers: RecreateResult[];
  images: { image: string; from_image_id: string; to_image_id: string; to_digest: string }[];
  verification: { verified: true; after_s: number; note: string };
};

interface Prepared {
  img: UpdateImage;
  /** Each container as it was before the update, to put it back exactly so. */
  before: Map<string, Docker.ContainerInspectInfo>;
  /** `name` and `tag` as `docker tag` takes them. */
  repo: string;
  tag: string;
  oldId: string;
  newId?: string;
}

/** Pulls `repository@digest` and fails on any error the engine reports in the stream. */
async function pullDigest(ctx: UpdateContext, repository: string, digest: string, domain: string): Promise<void> {
  const creds = ctx.credentials?.(domain);
  const auth = creds ? { authconfig: { username: creds.username, password: creds.password, serveraddress: domain } } : {};
  try {
    const stream = await ctx.docker.pull(`${repository}@${digest}`, auth);
    await new Promise<void>((resolve, reject) => {
      ctx.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    const e = err as { json?: { message?: string }; message?: string };
    throw new OperationError(`pulling ${repository}@${shortDigest(digest)} failed: ${(e.json?.message ?? e.message ?? String(err)).trim().slice(0, 300)}; nothing was changed`);
  }
}

/** Puts `name:tag` on image `id` (moving the tag from wherever it was). */
async function tagImage(docker: Docker, id: string, repo: string, tag: string): Promise<void> {
  await docker.getImage(id).tag({ repo, tag });
}

/** Before anything changes: every container exists and still names the image the update is for. */
async function prepare(ctx: UpdateContext, images: readonly UpdateImage[]): Promise<Prepared[]> {
  const prepared: Prepared[] = [];
  for (const img of images) {
    let oldId: string | undefined;
    const before = new Map<string, Docker.ContainerInspectInfo>();
    for (const name of img.containers) {
      const { info } = await inspectNamed(ctx, name);
      if (info.Config.Image !== img.image) throw new RefusedError(`refused: ${name} now runs ${info.Config.Image}, not ${img.image} as when the update was proposed; nothing was changed`);
      oldId ??= info.Image;
      before.set(name, info);
    }
    prepared.push({ img, before, repo: familiar(parseImageRef(img.image)), tag: img.tag, oldId: oldId! });
  }
  return prepared;
}

/**
 * Puts the tag back on the old image and each container back on it, as it was before (its own
 * deadline: the action's may be spent). Always throws: RolledBackError, saying whether it worked.
 */
async function rollback(ctx: UpdateContext, prepared: readonly Prepared[], reason: string): Promise<never> {
  const notes: string[] = [];
  const rctx: UpdateContext = { ...ctx, deadline: ctx.now() + (ctx.rollbackMs ?? 120_000) };
  let failed = false;
  for (const p of prepared) {
    try {
      await tagImage(ctx.docker, p.oldId, p.repo, p.tag);
      for (const name of p.img.containers) {
        const current = await inspectNamed(rctx, name).catch(() => undefined);
        if (current && current.info.Image === p.oldId && current.info.State.Running) continue;
        const from = p.before.get(name);
        await recreateContainer(rctx, name, { pull: false, ...(from ? { from } : {}) });
      }
      notes.push(`${p.img.image} back on ${p.oldId.slice(7, 19)}`);
    } catch (err) {
      failed = true;
      notes.push(`putting ${p.img.image} back failed: ${(err as Error).message}`);
    }
  }
  ctx.step?.(`rolled back: ${notes.join('; ')}`);
  const to = prepared.map((p) => shortDigest(p.img.from_digest)).join(', ');
  throw new RolledBackError(
    failed ? `rollback to ${to} FAILED (${notes.join('; ')}) after: ${reason}` : `rolled back to ${to}: ${reason}`,
    prepared.map((p) => p.img.to_digest),
    failed,
  );
}

/**
 * The verification window: the new containers must keep running (and healthy, where they have a
 * check); the service reporting healthy ends it early. Resolves with a note, or with the reason
 * to roll back.
 */
async function verify(ctx: UpdateContext, prepared: readonly Prepared[], upAt: number): Promise<{ ok: true; note: string } | { ok: false; reason: string }> {
  const clock = ctx.clock ?? realClock;
  const until = upAt + ctx.verifyMs;
  for (;;) {
    const word = ctx.reported?.(upAt);
    if (word?.status === 'healthy') return { ok: true, note: `the service reported healthy ${Math.round((ctx.now() - upAt) / 100) / 10} s after the new containers started` };
    if (word?.status === 'unhealthy') return { ok: false, reason: `the service reported unhealthy after the update${word.reason ? ` (${word.reason})` : ''}` };
    for (const p of prepared) {
      for (const name of p.img.containers) {
        const info = await ctx.docker.getContainer(name).inspect().catch(() => undefined);
        if (!info) return { ok: false, reason: `${name} disappeared after the update` };
        if (!info.State.Running || info.State.Restarting) return { ok: false, reason: `${name} ${info.State.Status}${info.State.ExitCode ? ` with code ${info.State.ExitCode}` : ''} after the update` };
        if (info.State.Health?.Status === 'unhealthy') return { ok: false, reason: `${name} turned unhealthy after the update` };
      }
    }
    if (ctx.now() >= until) return { ok: true, note: `the new containers kept running for ${Math.round(ctx.verifyMs / 1000)} s (VERIFY_AFTER_S)` };
    await clock.sleep(Math.min(ctx.pollMs ?? 500, Math.max(0, until - ctx.now())));
  }
}

/**
 * Carries out an image_update. Resolves when the new containers stayed up through the window
 * (or the service reported healthy first); throws RolledBackError after putting the old image
 * back under the tag and the containers back on it.
 */
export async function updateImages(ctx: UpdateContext, images: readonly UpdateImage[]): Promise<UpdateResult> {
  const step = ctx.step ?? (() => {});
  const prepared = await prepare(ctx, images);
  for (const p of prepared) {
    await pullDigest(ctx, p.img.repository, p.img.to_digest, parseImageRef(p.img.image).domain);
    p.newId = (await ctx.docker.getImage(`${p.img.repository}@${p.img.to_digest}`).inspect()).Id;
    step(`pulled ${p.repo}@${shortDigest(p.img.to_digest)} (${p.newId.slice(7, 19)})`);
  }
  const recreated: RecreateResult[] = [];
  try {
    for (const p of prepared) {
      await tagImage(ctx.docker, p.newId!, p.repo, p.tag);
      step(`tagged it ${p.repo}:${p.tag}`);
    }
    for (const p of prepared) for (const name of p.img.containers) recreated.push(await recreateContainer(ctx, name, { pull: false }));
  } catch (err) {
    return rollback(ctx, prepared, err instanceof OperationError ? err.message : `the engine refused: ${(err as Error).message}`);
  }
  const upAt = ctx.now();
  const outcome = await verify(ctx, prepared, upAt);
  if (!outcome.ok) return rollback(ctx, prepared, outcome.reason);
  step(`verified: ${outcome.note}`);
  return {
    containers: recreated,
    images: prepared.map((p) => ({ image: p.img.image, from_image_id: p.oldId, to_image_id: p.newId!, to_digest: p.img.to_digest })),
    verification: { verified: true, after_s: Math.round((ctx.now() - upAt) / 100) / 10, note: outcome.note },
  };
}
