// The layout of HOMELAB_ROOT (SPEC §2).
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { ACTION_STATES, type ActionState } from '../domain/actions.js';

export interface Layout {
  root: string;
  events: string;
  world: string;
  worldServices: string;
  worldNodes: string;
  state: string;
  checkpoint: string;
  actions: string;
  actionDir: (state: ActionState) => string;
  notices: string;
}

export function layout(root: string): Layout {
  const r = path.resolve(root);
  return {
    root: r,
    events: path.join(r, 'events'),
    world: path.join(r, 'world'),
    worldServices: path.join(r, 'world', 'services.json'),
    worldNodes: path.join(r, 'world', 'nodes.json'),
    state: path.join(r, 'state'),
    checkpoint: path.join(r, 'state', 'observer_checkpoint.json'),
    actions: path.join(r, 'actions'),
    actionDir: (state) => path.join(r, 'actions', state),
    notices: path.join(r, 'state', 'notices'),
  };
}

/** Creates every directory the product uses; existing ones are left as they are. */
export async function ensureLayout(l: Layout): Promise<void> {
  for (const dir of [l.events, l.world, l.state, l.notices, ...ACTION_STATES.map((s) => l.actionDir(s))]) {
    await fs.mkdir(dir, { recursive: true });
  }
}
