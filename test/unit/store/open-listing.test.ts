// The open listing keeps its order one change at a time (src/store/open-listing.ts): after any
// sequence of files written, replaced, moved and removed in the open directories, a listing gives
// what a listing made whole from the same files gives — the same actions, in the same order, with
// ties (one action in two directories while it moves) in the directories' order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OPEN_STATES, type Action, type ActionState } from '../../../src/domain/actions.js';
import { OpenListing, type OpenListingSource } from '../../../src/store/open-listing.js';

type Dirs = Map<ActionState, Map<string, Action>>;

/** A source over files in memory; `hints` collects the names changed since each reader's last look. */
function source(dirs: Dirs) {
  const hinted = new Map<ActionState, Set<string>>(OPEN_STATES.map((s) => [s, new Set()]));
  let first = true;
  const src: OpenListingSource = {
    hintedSince: (state) => {
      if (first) return undefined;
      const names = [...hinted.get(state)!];
      hinted.get(state)!.clear();
      return names;
    },
    names: async (state) => [...dirs.get(state)!.keys()],
    file: (state, name) => `${state}/${name}`,
    readMany: async (files) => files.map((f) => dirs.get(f.split('/')[0] as ActionState)!.get(f.split('/')[1]!)),
    present: (state, name) => dirs.get(state)!.has(name),
  };
  return { src, hint: (state: ActionState, name: string) => hinted.get(state)!.add(name), settled: () => (first = false) };
}

const action = (id: string, created: number, state: ActionState, rev: number): Action =>
  Object.freeze({ id, instance: 'i', state, type: 'container_restart', created_at: new Date(Date.UTC(2026, 11, 2, 14, 0, created)).toISOString(), updated_at: `r${rev}` }) as unknown as Action;

const step = fc.record({
  op: fc.constantFrom('write', 'remove', 'move'),
  id: fc.integer({ min: 0, max: 7 }),
  created: fc.integer({ min: 0, max: 3 }),
  state: fc.constantFrom(...OPEN_STATES),
  to: fc.constantFrom(...OPEN_STATES),
  list: fc.boolean(),
});

describe('the open listing', () => {
  it('kept in order change by change: the same listing as one made whole from the same files', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const dirs: Dirs = new Map(OPEN_STATES.map((s) => [s, new Map()]));
        const { src, hint, settled } = source(dirs);
        const kept = new OpenListing(src);
        await kept.list();
        settled();
        let rev = 0;
        for (const s of steps) {
          const name = `a${s.id}.json`;
          const here = dirs.get(s.state)!;
          if (s.op === 'write') here.set(name, action(`a${s.id}`, s.created, s.state, rev++));
          else if (s.op === 'remove') here.delete(name);
          else if (here.has(name)) {
            // A move is seen half done now and then: in both directories for a while.
            dirs.get(s.to)!.set(name, here.get(name)!.state === s.to ? here.get(name)! : action(`a${s.id}`, s.created, s.to, rev++));
            if (!s.list) here.delete(name);
            hint(s.to, name);
          }
          hint(s.state, name);
          if (s.list) {
            const whole = new OpenListing(source(dirs).src);
            expect((await kept.list()).map((a) => `${a.id}:${a.state}:${a.updated_at}`)).toEqual((await whole.list()).map((a) => `${a.id}:${a.state}:${a.updated_at}`));
          }
        }
        const whole = new OpenListing(source(dirs).src);
        expect(await kept.list()).toEqual(await whole.list());
      }),
      { numRuns: 300 },
    );
  });
});
