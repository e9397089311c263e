// JSON text of a large record of objects in groups (a node's services: keys `<node>/<service>`),
// each group's text kept until the group changes: a write of 50 000 services serialises the nodes
// that changed since the last one, not the fleet (docs/design/observer.md, "Rendering"). The text
// is JSON.stringify's for the record's key order when each group's keys are contiguous in it (the
// world's sorted record); otherwise the keys come grouped, each group in its first place (the
// observer's model, whose order is arrival order: the checkpoint reads back the same record).
import { keysByNode } from '../domain/world-render.js';

export type Changed = ReadonlySet<string> | 'all';

/**
 * A text as bytes in parts, written out as they are (one copy into the file's buffer): a group
 * that did not change keeps its part, the same object, so two texts are compared part by part
 * by identity (sameText) and a write encodes only the groups that changed.
 */
export type Chunks = readonly Uint8Array[];

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const PRETTY = { open: bytes('{\n'), sep: bytes(',\n'), close: bytes('\n}'), empty: bytes('{}') };
const COMPACT = { open: bytes('{'), sep: bytes(','), close: bytes('}'), empty: bytes('{}') };

export class GroupedJson {
  private groups: { name: string; keys: string[] }[] = [];
  private readonly parts = new Map<string, Buffer>();
  /** Groups serialised by the last call (for tests and the bench). */
  made = 0;
  private readonly names = new Set<string>();

  constructor(private readonly pretty: boolean) {}

  /**
   * The record's text, in parts. `changed`: the groups whose entries changed since the last
   * call, or 'all' when keys were added or removed (or the record is another one).
   */
  chunks(record: Readonly<Record<string, unknown>>, changed: Changed): Uint8Array[] {
    const prev = changed === 'all' ? this.regroup(record) : undefined;
    this.made = 0;
    const p = this.pretty ? PRETTY : COMPACT;
    if (this.groups.length === 0) return [p.empty];
    const out: Uint8Array[] = [p.open];
    for (const g of this.groups) {
      let part = changed === 'all' || changed.has(g.name) ? undefined : this.parts.get(g.name);
      if (part === undefined) {
        const sub: Record<string, unknown> = {};
        for (const k of g.keys) sub[k] = record[k];
        part = bytes(this.pretty ? JSON.stringify(sub, null, 2).slice(2, -2) : JSON.stringify(sub).slice(1, -1));
        // The same bytes as before: the same part (sameText compares parts by identity).
        const old = prev?.get(g.name) ?? this.parts.get(g.name);
        if (old?.equals(part)) part = old;
        this.parts.set(g.name, part);
        this.made++;
      }
      if (out.length > 1) out.push(p.sep);
      out.push(part);
    }
    out.push(p.close);
    return out;
  }

  /** Whether the last grouping has a group `name`. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  /** The record's text as one string (chunks, joined). */
  text(record: Readonly<Record<string, unknown>>, changed: Changed): string {
    return Buffer.concat(this.chunks(record, changed)).toString('utf8');
  }

  /** Groups anew from the record's keys; returns the parts made so far (kept when unchanged). */
  private regroup(record: Readonly<Record<string, unknown>>): Map<string, Buffer> {
    this.groups = [...keysByNode(record)].map(([name, keys]) => ({ name, keys }));
    this.names.clear();
    for (const g of this.groups) this.names.add(g.name);
    const prev = new Map(this.parts);
    this.parts.clear();
    return prev;
  }
}

/**
 * Whether two texts are the same: part by part by identity (a text made from the other's parts),
 * else byte by byte (a text read from a file: once, then the caller keeps the parts).
 */
export function sameText(a: Chunks, b: Chunks | string): boolean {
  if (typeof b === 'string') return Buffer.concat(a).equals(Buffer.from(b, 'utf8'));
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !Buffer.from(a[i]!.buffer, a[i]!.byteOffset, a[i]!.byteLength).equals(b[i]!)) return false;
  return true;
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

/**
 * `stableJson(record)` in parts, for a record whose values are replaced when they change, never
 * changed in place (the world's nodes): each value's part is kept by the value object, so a record
 * of a thousand nodes after one event serialises that one node, and two texts compare part by part
 * by identity (sameText) — no text of the whole record is joined, encoded or compared.
 */
export class RecordText {
  private readonly parts = new WeakMap<object, { key: string; part: Buffer }>();

  chunks(record: Readonly<Record<string, unknown>>): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const key in record) {
      const v = record[key];
      if (v === undefined) continue;
      const obj = typeof v === 'object' && v !== null;
      let kept = obj ? this.parts.get(v) : undefined;
      if (kept?.key !== key) {
        // Inside the record each line of the value is indented one level more.
        kept = { key, part: bytes(`  ${JSON.stringify(key)}: ${JSON.stringify(v, null, 2).replace(/\n/g, '\n  ')}`) };
        if (obj) this.parts.set(v, kept);
      }
      out.push(out.length === 0 ? PRETTY.open : PRETTY.sep, kept.part);
    }
    if (out.length === 0) return [EMPTY_LINE];
    out.push(CLOSE_LINE);
    return out;
  }
}

const EMPTY_LINE = bytes('{}\n');
const CLOSE_LINE = bytes('\n}\n');
