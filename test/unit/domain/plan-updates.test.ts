// The supervisor's rules for image updates (docs/design/updates.md), on the pure plan().
import { describe, expect, it } from 'vitest';
import type { Action } from '../../../src/domain/actions.js';
import { digestOf } from '../../../src/domain/digest.js';
import { plan, type PlanInput } from '../../../src/domain/plan.js';
import type { UpdatePolicy, World, WorldService } from '../../../src/domain/schemas.js';
import type { ImageCheck, Skips, UpdateEntry } from '../../../src/domain/updates.js';
import { desiredState } from '../../support/desired.js';

const NOW = Date.parse('2026-05-27T15:00:00.000Z');
const iso = (offsetS: number) => new Date(NOW + offsetS * 1000).toISOString();
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;
const KEY = 'infra/z2m';
const ID = 'image-update-infra-z2m';

function world(status: WorldService['status'] = 'healthy', reason: string | null = null): World {
  return {
    services: { [KEY]: { node: 'infra', service: 'z2m', status, reason, since: iso(-3600), last_event_at: iso(-30), last_healthy_at: null, last_incident: null, changes: [] } },
    nodes: { infra: { node: 'infra', last_seen: iso(-10), last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 40, disk_updated_at: iso(-60), events_applied: 1, events_unknown: 0, agent: 'alive' } },
  };
}
function image(over: Partial<ImageCheck> = {}): ImageCheck {
  return { image: 'koenkk/zigbee2mqtt:latest', containers: ['zigbee2mqtt'], repository: 'docker.io/koenkk/zigbee2mqtt', tag: 'latest', local_digest: D1, remote_digest: D2, status: 'image_update_available', version: '2.1.0', ...over };
}
function entry(images: ImageCheck[] = [image()], checkedAt = iso(-60)): Record<string, UpdateEntry> {
  return { [KEY]: { node: 'infra', service: 'z2m', checked_at: checkedAt, images } };
}
function input(policy: UpdatePolicy, over: Partial<PlanInput> = {}): PlanInput {
  return {
    desired: desiredState({ infra: { z2m: { containers: ['zigbee2mqtt'], updates: policy } } }),
    world: world(),
    open: [],
    cooldowns: {},
    silences: [],
    held: {},
    desiredProblems: [],
    now: NOW,
    updates: entry(),
    ...over,
  };
}
function pendingUpdate(to = D2, extra: Partial<Action> = {}): Action {
  return {
    id: ID,
    instance: '20260527T140000Z',
    type: 'image_update',
    risk: 'guarded',
    node: 'infra',
    service: 'z2m',
    drift: 'outdated_image',
    trigger: 'image_update_available',
    state: 'pending',
    created_at: iso(-600),
    updated_at: iso(-600),
    history: [],
    update: { images: [{ image: 'koenkk/zigbee2mqtt:latest', repository: 'docker.io/koenkk/zigbee2mqtt', tag: 'latest', containers: ['zigbee2mqtt'], from_digest: D1, to_digest: to }] },
    ...extra,
  };
}

describe('plan: image updates', () => {
  it.each(['approve', 'auto'] as const)('updates: %s → one guarded image_update with both digests', (policy) => {
    const p = plan(input(policy));
    expect(p.create).toEqual([
      expect.objectContaining({
        id: ID,
        type: 'image_update',
        risk: 'guarded',
        drift: 'outdated_image',
        trigger: 'image_update_available',
        containers: ['zigbee2mqtt'],
        update: { images: [expect.objectContaining({ image: 'koenkk/zigbee2mqtt:latest', tag: 'latest', from_digest: D1, to_digest: D2, version: '2.1.0' })] },
      }),
    ]);
  });

  it('updates: off (the default) → nothing; notify → a notice naming image, digests and version, no action', () => {
    expect(plan(input('off'))).toMatchObject({ create: [], notices: [] });
    const p = plan(input('notify'));
    expect(p.create).toEqual([]);
    expect(p.notices).toEqual([expect.objectContaining({ key: 'image-update-infra-z2m', kind: 'image_update_available', revision: D2 })]);
    expect(p.notices[0]!.message).toContain('koenkk/zigbee2mqtt:latest 111111111111 → 222222222222 (2.1.0)');
  });

  it('up to date, pinned or not checkable → nothing', () => {
    for (const i of [image({ status: 'up_to_date', remote_digest: D1 }), image({ status: 'pinned', remote_digest: null }), image({ status: 'error', remote_digest: null, error: 'x' })]) {
      expect(plan(input('approve', { updates: entry([i]) })).create).toEqual([]);
    }
  });

  it('a skipped or rolled-back digest is never proposed; a newer one is', () => {
    const skips: Skips = { [KEY]: [{ digest: D2, at: iso(-100), reason: 'rolled_back' }] };
    expect(plan(input('auto', { skips })).create).toEqual([]);
    const newer = plan(input('auto', { skips, updates: entry([image({ remote_digest: D3 })]) }));
    expect(newer.create[0]!.update!.images[0]!.to_digest).toBe(D3);
  });

  it('after an outcome, proposed again only from a check made after it (at most once per check interval)', () => {
    const cooldowns = { [ID]: { node: 'infra', service: 'z2m', type: 'image_update' as const, count: 1, last_at: iso(-30) } };
    expect(plan(input('auto', { cooldowns, updates: entry([image()], iso(-60)) })).create).toEqual([]);
    expect(plan(input('auto', { cooldowns, updates: entry([image()], iso(-10)) })).create).toHaveLength(1);
  });

  it('an unhealthy, unknown or silent service gets no update; an unhealthy drift supersedes a pending one', () => {
    const unhealthy = plan(input('approve', { world: world('unhealthy', 'containers_not_running'), open: [pendingUpdate()] }));
    expect(unhealthy.cancel).toEqual([{ id: ID, instance: '20260527T140000Z', reason: 'superseded' }]);
    expect(unhealthy.create.map((c) => c.type)).toEqual(['container_restart']);
    expect(plan(input('approve', { world: world('unknown') })).create).toEqual([]);
    const silent = world();
    silent.nodes.infra!.agent = 'silent';
    expect(plan(input('approve', { world: silent })).create).toEqual([]);
  });

  it('a healthy service keeps its pending update (healthy does not resolve an outdated image)', () => {
    expect(plan(input('approve', { open: [pendingUpdate()] }))).toMatchObject({ create: [], cancel: [] });
  });

  it('pending update cancelled: updated by hand (drift_resolved_auto), skipped by CLI, newer digest (superseded, then proposed again), updates turned off', () => {
    const byHand = plan(input('approve', { open: [pendingUpdate()], updates: entry([image({ local_digest: D2, status: 'up_to_date' })]) }));
    expect(byHand.cancel).toEqual([expect.objectContaining({ reason: 'drift_resolved_auto' })]);
    const skipped = plan(input('approve', { open: [pendingUpdate()], skips: { [KEY]: [{ digest: D2, at: iso(-5), reason: 'skipped' }] } }));
    expect(skipped.cancel).toEqual([expect.objectContaining({ reason: 'version_skipped' })]);
    const newer = plan(input('approve', { open: [pendingUpdate()], updates: entry([image({ remote_digest: D3 })]) }));
    expect(newer.cancel).toEqual([expect.objectContaining({ reason: 'superseded' })]);
    expect(newer.create[0]!.update!.images[0]!.to_digest).toBe(D3);
    for (const policy of ['off', 'notify'] as const) expect(plan(input(policy, { open: [pendingUpdate()] })).cancel).toEqual([expect.objectContaining({ reason: 'updates_off' })]);
  });

  it('the service leaving services.yaml cancels its pending update as usual', () => {
    const p = plan(input('approve', { desired: desiredState({ infra: { other: {} } }), open: [pendingUpdate()] }));
    expect(p.cancel).toEqual([expect.objectContaining({ id: ID, reason: 'service_removed_from_desired_state' })]);
  });

  it('the digest lists services with newer images waiting (not skipped, updates on)', () => {
    const base = { since: iso(-3600), now: NOW, world: world(), finished: [], pending: [] };
    const d = digestOf({ ...base, desired: input('notify').desired, updates: entry() });
    expect(d.updates_waiting).toEqual([{ key: KEY, images: 'koenkk/zigbee2mqtt:latest 111111111111 → 222222222222 (2.1.0)' }]);
    expect(digestOf({ ...base, desired: input('off').desired, updates: entry() }).updates_waiting).toEqual([]);
    expect(digestOf({ ...base, desired: input('approve').desired, updates: entry(), skips: { [KEY]: [{ digest: D2, at: iso(0), reason: 'skipped' }] } }).updates_waiting).toEqual([]);
  });
});
