// The action directories' paths, each file's path made once: the same string object at every
// listing is a map key whose hash is already known (a thousand open actions are looked up in the
// index and the parsed-file cache at every pass; docs/benchmarks.md).
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { ACTION_STATES, type ActionState } from '../domain/actions.js';

export class ActionPaths {
  private readonly dirs: ReadonlyMap<ActionState, string>;
  private readonly files: ReadonlyMap<ActionState, Map<string, string>>;

  constructor(
    root: string,
    private readonly max = 20_000,
  ) {
    this.dirs = new Map(ACTION_STATES.map((s) => [s, path.join(root, s)]));
    this.files = new Map(ACTION_STATES.map((s) => [s, new Map<string, string>()]));
  }

  dir(state: ActionState): string {
    return this.dirs.get(state)!;
  }

  /** The path of `name` in `state`'s directory. */
  file(state: ActionState, name: string): string {
    const files = this.files.get(state)!;
    const known = files.get(name);
    if (known !== undefined) return known;
    if (files.size >= this.max) files.clear();
    const file = path.join(this.dir(state), name);
    files.set(name, file);
    return file;
  }

  /** Whether `name` is in `state`'s directory now (one lstat; one that fails says yes: a read tells more). */
  present(state: ActionState, name: string): boolean {
    try {
      return lstatSync(this.file(state, name), { throwIfNoEntry: false }) !== undefined;
    } catch {
      return true;
    }
  }
}
