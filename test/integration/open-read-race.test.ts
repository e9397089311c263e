// An action moving on while the supervisor reads (docs/design/claims.md, "Reading open actions"):
// a listing taken across a transition may see none of its names, and an outcome may land between
// the pass's reads and its proposals. Neither may end in the same action proposed again at once.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActionState } from '../../src/domain/actions.js';
import type { World } from '../../src/domain/schemas.js';
import { Supervisor } from '../../src/loops/supervisor.js';
import { ActionStore } from '../../src/store/actions.js';
import { SupervisorState } from '../../src/store/supervisor-state.js';
import { desiredState } from '../support/desired.js';
import { memoryLogger, removeDir, tempDir } from '../support/helpers.js';

const ID = 'container-restart-n1-web';
let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-openrace-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** A store that runs `hook` each time a directory is listed (after the listing, or before it). */
class HookedStore extends ActionStore {
  hook: ((state: ActionState, when: 'before' | 'after') => Promise<void>) | undefined;
  protected override async names(state: ActionState): Promise<string[]> {
    await this.hook?.(state, 'before');
    const names = await super.names(state);
    await this.hook?.(state, 'after');
    return names;
  }
}

const draft = { id: ID, instance: '20261203T000000Z', type: 'container_restart' as const, risk: 'low' as const, node: 'n1', service: 'web', drift: 'unhealthy_service' as const, trigger: 'containers_not_running', containers: ['web'], drift_since: null };

describe('reading the open actions while one moves', () => {
  it('approved → claim in running/ → running/<id>.json, each step between two listings: the action is still read as open', async () => {
    const store = new HookedStore(path.join(dir, 'actions'));
    await store.ensureDirs();
    await store.create(draft);
    await store.transition({ id: ID, from: 'pending', to: 'approved', by: 'test' });
    const approved = path.join(store.dir('approved'), `${ID}.json`);
    const claim = path.join(store.dir('running'), `.${ID}.0badc0de.claim`);
    const final = path.join(store.dir('running'), `${ID}.json`);
    let runningListings = 0;
    let step = 0;
    // By hand, the way a transition in another process moves the file: the approved file is
    // listed, then claimed before it is read; the claim is listed, then published before the
    // listing that looks for claims.
    store.hook = async (state, when) => {
      if (state === 'approved' && when === 'after' && step === 0) {
        step = 1;
        await fs.rename(approved, claim);
      } else if (state === 'running' && when === 'before' && step === 1 && runningListings++ === 1) {
        step = 2;
        const a = JSON.parse(await fs.readFile(claim, 'utf8'));
        await fs.writeFile(claim, JSON.stringify({ ...a, state: 'running', history: [...a.history, { state: 'running', at: a.updated_at, by: 'executor' }] }));
        await fs.link(claim, final);
        await fs.unlink(claim);
      }
    };
    const open = await store.listOpenOrMoving();
    expect(step).toBe(2);
    expect(open.map((a) => `${a.id}:${a.state}`)).toEqual([`${ID}:running`]);
  });

  it('an action that finished between the pass reading the open actions and proposing is not proposed again (its backoff holds)', async () => {
    const now = Date.parse('2026-12-03T03:00:00.000Z');
    const iso = (s: number) => new Date(now + s * 1000).toISOString();
    const mem = memoryLogger();
    const actions = new ActionStore(path.join(dir, 'actions'), () => now);
    await actions.ensureDirs();
    const state = new SupervisorState(path.join(dir, 'state'));
    await state.ensureDirs();
    const desired = desiredState({ n1: { web: {} } });
    const world: World = {
      services: { 'n1/web': { node: 'n1', service: 'web', status: 'unhealthy', reason: 'containers_not_running', since: iso(-300), last_event_at: iso(-10), last_healthy_at: iso(-400), last_incident: null, changes: [] } },
      nodes: { n1: { node: 'n1', last_seen: iso(-5), last_event_type: 'node_heartbeat', disk_pressure: 'normal', disk_used_pct: 1, disk_updated_at: null, events_applied: 3, events_unknown: 0, agent: 'alive' } },
    };
    await actions.create(draft);
    await actions.transition({ id: ID, from: 'pending', to: 'approved', by: 'test' });
    await actions.transition({ id: ID, from: 'approved', to: 'running', by: 'executor', patch: { started_at: iso(-1) } });
    // The pass's read of the open actions misses the running one (it moved on between the
    // listing and the read: the case above, in another process), and it fails right after the
    // pass read the finished ones.
    let missed = false;
    let finishedReads = 0;
    const racing = Object.assign(Object.create(actions) as ActionStore, {
      listOpenOrMoving: async () => {
        missed = true;
        return [];
      },
      finishedNames: async (states: Parameters<ActionStore['finishedNames']>[0]) => {
        const names = await actions.finishedNames(states);
        if (finishedReads++ === 0) await actions.transition({ id: ID, from: 'running', to: 'failed', by: 'executor', patch: { error: 'engine unreachable', finished_at: iso(0) } });
        return names;
      },
    });
    const sup = new Supervisor({ actions: racing, state, log: mem.log, now: () => now, world: () => world, desired: () => desired, desiredProblems: () => [] });
    const pass = await sup.pass();
    expect(missed).toBe(true);
    expect(pass.created).toEqual([]);
    expect(pass.deferred).toEqual([ID]);
    expect((await actions.history(ID)).map((a) => a.state)).toEqual(['failed']);
    expect(mem.lines.some((x) => /not proposed: an instance of it finished while this pass planned/.test(String(x.msg)))).toBe(true);
    // The next pass counts the failure: its heal's backoff holds the restart.
    const sup2 = new Supervisor({ actions, state, log: mem.log, now: () => now, world: () => world, desired: () => desired, desiredProblems: () => [] });
    const next = await sup.pass();
    expect(next.created).toEqual([]);
    expect(next.deferred).toEqual([]);
    expect((await sup2.pass()).created).toEqual([]);
    expect((await state.healBudgets())['n1/web']?.heals.map((h) => h.outcome)).toEqual(['failed']);
  });
});
