// The rules of image updates and of disk pressure: part of one node's plan (plan.ts).
import { idFor } from './actions.js';
import { parseImageRef } from './image-ref.js';
import { hasWindows, type Maintenance } from './maintenance.js';
import type { PlanContext } from './plan-context.js';
import type { DesiredService } from './schemas.js';
import { silenced } from './silences.js';
import { describeUpdates, outdatedImages } from './updates.js';

/**
 * A healthy service whose image is behind its tag (docs/design/updates.md): an image_update to
 * approve (`approve`, `auto`) or a notice (`notify`). A pending one is cancelled when the service
 * caught up by other means, superseded when a newer digest appeared, and cancelled when updates
 * were turned off. After an outcome (done, failed, rejected) the same service is proposed again
 * only from a check made after it: at most once per check interval.
 */
export function planUpdate(ctx: PlanContext, node: string, s: DesiredService, blind: boolean, maint: Maintenance | undefined): void {
  const { input, out } = ctx;
  const key = `${node}/${s.service}`;
  const id = idFor('image_update', node, s.service);
  const entry = input.updates?.[key];
  const outdated = entry ? outdatedImages(entry.images, input.skips?.[key]) : [];
  const open = ctx.open.byId.get(id);
  if (open) {
    if (open.state !== 'pending') return;
    if (s.updates === 'off' || s.updates === 'notify') return ctx.cancel(open, 'updates_off');
    if (!entry) return;
    const wanted = new Set(outdated.map((i) => `${i.image}@${i.remote_digest}`));
    const planned = new Set((open.update?.images ?? []).map((i) => `${i.image}@${i.to_digest}`));
    const skipped = (open.update?.images ?? []).some((i) => input.skips?.[key]?.some((x) => x.digest === i.to_digest));
    if (wanted.size === 0) return ctx.cancel(open, skipped ? 'version_skipped' : 'drift_resolved_auto');
    if ([...wanted].some((x) => !planned.has(x)) || [...planned].some((x) => !wanted.has(x))) ctx.cancel(open, 'superseded');
    else return;
  }
  if (blind || outdated.length === 0 || !entry || s.updates === 'off') return;
  // In maintenance only `updates: auto` goes ahead; a node with windows of its own updates
  // automatically only inside them (the one-line answer to "update only at night").
  if (maint && s.updates !== 'auto') return;
  if (s.updates === 'auto' && !maint && hasWindows(input.desired, node)) return;
  if (s.updates === 'notify') {
    out.notices.push({
      key: `image-update-${node}-${s.service}`,
      kind: 'image_update_available',
      node,
      service: s.service,
      message: `A newer image for ${s.service} on ${node}: ${describeUpdates(outdated)}. updates: notify in hosts/${node}/services.yaml, so nothing is proposed; set updates: approve for an Update button.`,
      revision: outdated.map((i) => i.remote_digest).join(','),
      detail: { images: outdated.map((i) => ({ image: i.image, from: i.local_digest, to: i.remote_digest, ...(i.version ? { version: i.version } : {}), ...(i.source ? { source: i.source } : {}) })) },
    });
    return;
  }
  const last = input.cooldowns[id]?.last_at;
  if (last !== undefined && last >= entry.checked_at) return;
  if (silenced(input.silences, node, s.service, input.now)) return;
  const images = outdated.map((i) => {
    const ref = parseImageRef(i.image);
    return {
      image: i.image,
      repository: i.repository ?? ref.name,
      tag: i.tag ?? ref.tag ?? 'latest',
      containers: i.containers,
      from_digest: i.local_digest,
      to_digest: i.remote_digest!,
      ...(i.created ? { created: i.created } : {}),
      ...(i.version ? { version: i.version } : {}),
      ...(i.source ? { source: i.source } : {}),
    };
  });
  out.create.push({
    id,
    instance: ctx.instance,
    type: 'image_update',
    risk: 'guarded',
    node,
    service: s.service,
    drift: 'outdated_image',
    trigger: 'image_update_available',
    containers: [...new Set(images.flatMap((i) => i.containers))],
    drift_since: entry.checked_at,
    update: { images },
  });
}

/** Disk pressure is per node: propose a cleanup, or cancel one the node no longer needs. */
export function planDisk(ctx: PlanContext, node: string, blind: boolean): void {
  const { input, out } = ctx;
  const wn = input.world.nodes[node];
  const diskId = idFor('disk_cleanup', node, null);
  const diskOpen = ctx.open.byId.get(diskId);
  if (wn?.disk_pressure === 'high') {
    if (!blind && !diskOpen && !silenced(input.silences, node, null, input.now) && !ctx.blocked(diskId)) {
      out.create.push({
        id: diskId,
        instance: ctx.instance,
        type: 'disk_cleanup',
        risk: 'guarded',
        node,
        service: null,
        drift: 'disk_pressure',
        trigger: 'disk_pressure',
        containers: [],
        drift_since: wn.disk_updated_at,
      });
    }
  } else if (diskOpen && wn?.disk_pressure === 'normal') {
    ctx.cancel(diskOpen, 'drift_resolved_auto');
  }
}
