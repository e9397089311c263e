// The rules ARCHITECTURE.md states, checked on the source so they cannot quietly rot.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/helpers.js';

function sources(dir = 'src'): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(repoRoot, dir))) {
    const rel = path.join(dir, name);
    if (statSync(path.join(repoRoot, rel)).isDirectory()) out.push(...sources(rel));
    else if (name.endsWith('.ts')) out.push(rel);
  }
  return out;
}
const text = (f: string) => readFileSync(path.join(repoRoot, f), 'utf8');

describe('architecture rules', () => {
  it('only src/time/ touches timers and the wall clock (the page\'s browser script aside)', () => {
    const offenders: string[] = [];
    for (const f of sources()) {
      if (f.startsWith('src/time/')) continue;
      let t = text(f);
      if (f === 'src/api/page.ts') t = t.replace(/const SCRIPT = `[\s\S]*?`;/, '');
      for (const m of t.matchAll(/\b(setTimeout|setInterval|setImmediate|Date\.now)\b/g)) offenders.push(`${f}: ${m[1]}`);
    }
    expect(offenders).toEqual([]);
  });

  it('src/domain/ is pure: no fs, no env, no clock, no other layer', () => {
    for (const f of sources('src/domain')) {
      const t = text(f);
      expect(t, f).not.toMatch(/from 'node:(fs|child_process|net|http)/);
      expect(t, f).not.toMatch(/process\.env/);
      expect(t, f).not.toMatch(/from '\.\.\/(store|loops|bot|api|docker|agent|app)\//);
    }
  });

  it('only src/docker/ imports dockerode at run time; the bot and the API never do', () => {
    for (const f of sources()) {
      if (f.startsWith('src/docker/')) continue;
      expect(text(f), f).not.toMatch(/^import (?!type)[^;]*from 'dockerode'/m);
    }
  });

  it('no fs.readdir of action directories outside src/store/', () => {
    for (const f of sources()) {
      if (f.startsWith('src/store/')) continue;
      expect(text(f), f).not.toMatch(/readdir\([^)]*(actionDir|actions\.dir|\.actions\b)/);
    }
  });

  it('only src/store/ writes files (SSH known_hosts aside, which stays beside its verifier in docker/)', () => {
    const writers = /\b(writeFile|writeFileSync|appendFile|appendFileSync|mkdir|mkdirSync|rename|renameSync|unlink|unlinkSync|rm|rmSync|link|createWriteStream|copyFile|truncate)\(/;
    const offenders: string[] = [];
    for (const f of sources()) {
      if (f.startsWith('src/store/') || f === 'src/docker/host-trust.ts') continue;
      const t = text(f);
      if (!/from 'node:fs(\/promises)?'/.test(t)) continue;
      for (const line of t.split('\n')) if (writers.test(line.replace(/\.rename\(\{/, ''))) offenders.push(`${f}: ${line.trim()}`);
    }
    expect(offenders).toEqual([]);
  });

  it('no function longer than 80 lines', () => {
    const long: string[] = [];
    for (const f of sources()) {
      const src = ts.createSourceFile(f, text(f), ts.ScriptTarget.ES2022, true);
      const visit = (n: ts.Node) => {
        if ((ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n)) && n.body) {
          const a = src.getLineAndCharacterOfPosition(n.getStart()).line;
          const b = src.getLineAndCharacterOfPosition(n.getEnd()).line;
          if (b - a + 1 > 80) long.push(`${f}:${a + 1} (${b - a + 1} lines)`);
        }
        ts.forEachChild(n, visit);
      };
      visit(src);
    }
    expect(long).toEqual([]);
  });

  it('no file in src/ over 400 lines (one that grows past it is split by responsibility)', () => {
    const over: string[] = [];
    for (const f of sources()) {
      const lines = text(f).split('\n').length - 1;
      if (lines > 400) over.push(`${f}: ${lines} lines (at most 400)`);
    }
    expect(over).toEqual([]);
  });

  it("ARCHITECTURE.md's import table holds: every import between layers is allowed there, and nothing it allows is forbidden by .dependency-cruiser.cjs", async () => {
    const doc = text('ARCHITECTURE.md');
    const table = new Map<string, Set<string>>();
    for (const m of doc.matchAll(/^\| ([\w-]+) \| ([\w, —-]+) \|$/gm)) if (m[1] !== 'layer') table.set(m[1]!, new Set(m[2] === '—' ? [] : m[2]!.split(', ')));
    const layerOf = (f: string) => (f.split('/').length > 2 ? f.split('/')[1]! : path.basename(f).replace(/\.[jt]s$/, ''));
    const files = sources();
    expect([...new Set(files.map(layerOf))].sort()).toEqual([...table.keys()].sort());
    const broken = new Set<string>();
    for (const f of files) {
      for (const m of text(f).matchAll(/^(?:import|export)\s[^;]*?from '(\.[^']+)'/gm)) {
        const to = layerOf(path.join(path.dirname(f), m[1]!));
        if (to !== layerOf(f) && !table.get(layerOf(f))!.has(to)) broken.add(`${layerOf(f)} → ${to} (${f})`);
      }
    }
    expect([...broken]).toEqual([]);
    const { forbidden } = (await import(path.join(repoRoot, '.dependency-cruiser.cjs'))).default as { forbidden: { name: string; from: { path?: string | string[]; pathNot?: string | string[] }; to: { path?: string | string[]; pathNot?: string | string[] } }[] };
    const any = (p: string | string[] | undefined, f: string) => (p === undefined ? false : [p].flat().some((r) => new RegExp(r).test(f)));
    const forbids = (rule: (typeof forbidden)[number], from: string, to: string) =>
      rule.from.path !== undefined && any(rule.from.path, from) && !any(rule.from.pathNot, from) && rule.to.path !== undefined && any(rule.to.path, to) && !any(rule.to.pathNot, to);
    const contradicted: string[] = [];
    for (const [from, allowed] of table) {
      for (const to of allowed) {
        const pairs = files.filter((f) => layerOf(f) === from).flatMap((a) => files.filter((f) => layerOf(f) === to).map((b) => [a, b] as const));
        if (pairs.every(([a, b]) => forbidden.some((r) => forbids(r, a, b)))) contradicted.push(`${from} → ${to}`);
      }
    }
    expect(contradicted).toEqual([]);
  });
});
