// JSON text of a large record of objects in groups (a node's services: keys `<node>/<service>`),
// each group's text kept until the group changes: a write of 50 000 services serialises the nodes
// that changed since the last one, not the fleet (docs/design/observer.md, "Rendering"). The text
// is JSON.stringify's for the record's key order when each group's keys are contiguous in it (the
// world's sorted record); otherwise the keys come grouped, each group in its first place (the
// observer's model, whose order is arrival order: the checkpoint reads back the same record).
import { keysByNode } from '../domain/world-render.js';

export type Changed = ReadonlySet<string> | 'all';

export class GroupedJson {
  private groups: { name: string; keys: string[] }[] = [];
  private readonly texts = new Map<string, string>();
  /** Groups serialised by the last call (for tests and the bench). */
  made = 0;

  constructor(private readonly pretty: boolean) {}

  /**
   * The record's text. `changed`: the groups whose entries changed since the last call, or 'all'
   * when keys were added or removed (or the record is another one).
   */
  text(record: Readonly<Record<string, unknown>>, changed: Changed): string {
    if (changed === 'all') this.regroup(record);
    this.made = 0;
    const parts: string[] = [];
    for (const g of this.groups) {
      let t = changed === 'all' || changed.has(g.name) ? undefined : this.texts.get(g.name);
      if (t === undefined) {
        const sub: Record<string, unknown> = {};
        for (const k of g.keys) sub[k] = record[k];
        t = this.pretty ? JSON.stringify(sub, null, 2).slice(2, -2) : JSON.stringify(sub).slice(1, -1);
        this.texts.set(g.name, t);
        this.made++;
      }
      parts.push(t);
    }
    if (parts.length === 0) return '{}';
    return this.pretty ? `{\n${parts.join(',\n')}\n}` : `{${parts.join(',')}}`;
  }

  private regroup(record: Readonly<Record<string, unknown>>): void {
    this.groups = [...keysByNode(record)].map(([name, keys]) => ({ name, keys }));
    this.texts.clear();
  }
}

/** `JSON.stringify(obj)` with the member `name` given as text already made. */
export function compactWith(obj: Readonly<Record<string, unknown>>, name: string, text: string): string {
  const parts: string[] = [];
  for (const key of Object.keys(obj)) {
    const value = key === name ? text : JSON.stringify(obj[key]);
    if (value !== undefined) parts.push(`${JSON.stringify(key)}:${value}`);
  }
  return `{${parts.join(',')}}`;
}
