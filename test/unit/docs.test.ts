// The docs the project owns stay true: every variable config.ts reads is documented with its
// default, nothing documented is made up, README stays short, and every relative link resolves.
import { ACTIONS_BUCKET } from '../../src/nats/actions-kv.js';
import { LEADER_BUCKET } from '../../src/nats/lease.js';
import { STATE_BUCKET } from '../../src/nats/docs-kv.js';
import { OUTBOX_BUCKET } from '../../src/nats/outbox-kv.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MALLOC_ENV, RERUN_MARK } from '../../src/cli/heap-flags.js';
import { AGENT_SETTINGS, ENV_VARIABLES, envDefaults } from '../../src/config.js';
import { EVENTS_STREAM } from '../../src/nats/events.js';
import { COMMAND_NAMES } from '../../src/cli/main.js';
import { apiFixture } from '../support/api-fixture.js';
import { removeDir, repoRoot, tempDir } from '../support/helpers.js';

const read = (f: string) => readFileSync(path.join(repoRoot, f), 'utf8');

function markdownFiles(): string[] {
  const out = ['README.md', 'ARCHITECTURE.md', 'CONTRIBUTING.md', 'CHANGELOG.md'];
  const walk = (dir: string) => {
    for (const name of readdirSync(path.join(repoRoot, dir))) {
      const rel = path.join(dir, name);
      if (statSync(path.join(repoRoot, rel)).isDirectory()) walk(rel);
      else if (name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

describe('docs', () => {
  it('docs/operator/configuration.md lists every variable config.ts reads, with its default, and no other', () => {
    const rows = [...read('docs/operator/configuration.md').matchAll(/^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((m) => ({ name: m[1]!, def: m[2]!.trim() }));
    expect(rows.map((r) => r.name).sort()).toEqual([...ENV_VARIABLES].sort());
    const defaults = envDefaults();
    for (const r of rows) {
      const literal = /^`([^`]*)`$/.exec(r.def)?.[1];
      if (literal !== undefined) expect(`${r.name}=${literal}`).toBe(`${r.name}=${defaults[r.name]}`);
      else expect(defaults[r.name] === undefined || defaults[r.name] === '[]' || defaults[r.name] === '{}', `${r.name}: documented as "${r.def}" but defaults to ${defaults[r.name]}`).toBe(true);
    }
  });

  it('README stays a short introduction', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(250);
    expect(read('README.md')).toMatch(/^# homelab-control-plane\n[\s\S]*npm ci && npm start[\s\S]*npm test/);
  });

  it('every relative link in the docs points to a file that exists', () => {
    const broken: string[] = [];
    for (const f of markdownFiles()) {
      for (const m of read(f).matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        if (!existsSync(path.join(repoRoot, path.dirname(f), target))) broken.push(`${f}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('code comments cite the project\'s own docs, and the docs they cite exist', () => {
    const cited = new Set<string>();
    const walk = (dir: string) => {
      for (const name of readdirSync(path.join(repoRoot, dir))) {
        const rel = path.join(dir, name);
        if (statSync(path.join(repoRoot, rel)).isDirectory()) walk(rel);
        else if (name.endsWith('.ts')) {
          const text = read(rel);
          expect(text, rel).not.toMatch(/SPEC §|\.\.\/shared\//);
          for (const m of text.matchAll(/docs\/[a-z/-]+\.md/g)) cited.add(m[0]);
        }
      }
    };
    walk('src');
    expect(cited.size).toBeGreaterThan(3);
    for (const c of cited) expect(existsSync(path.join(repoRoot, c)), c).toBe(true);
  });

  it('every command of the dispatcher is in the usage text and in docs/operator/cli.md, and nothing else is', () => {
    const cli = read('docs/operator/cli.md');
    const documented = new Set([...cli.matchAll(/^\| `control-plane ([a-z-]+)/gm)].map((m) => m[1]!));
    expect([...documented].sort()).toEqual([...COMMAND_NAMES].sort());
    const intro = /^`control-plane <command>`: (.*)\.$/m.exec(cli)?.[1] ?? '';
    expect(intro.split(/,\s*/).sort()).toEqual([...COMMAND_NAMES].sort());
  });

  it('every route the web server answers is in docs/operator/http-api.md, and nothing else is', async () => {
    const root = await tempDir('hcp-docs-routes-');
    try {
      const f = await apiFixture(root, { ingestTokens: { piha: 'x'.repeat(32) } });
      await f.app.ready();
      // printRoutes lists every path with its methods ("/summary (GET, HEAD)").
      // printRoutes draws a tree ("├── summary (GET, HEAD)", children indented 4 more): a path is
      // its ancestors' segments joined.
      const tree = f.app.printRoutes({ commonPrefix: false });
      const routes = new Set<string>();
      const stack: string[] = [];
      for (const line of tree.split('\n')) {
        const m = /^([\s│]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
        if (!m) continue;
        const depth = m[1]!.length / 4;
        stack.length = depth;
        stack.push(m[2]!);
        const full = stack.join('').replace(/\/+/g, '/').replace(/^(?!\/)/, '/');
        for (const method of (m[3] ?? '').split(', ')) if (method && method !== 'HEAD') routes.add(`${method} ${full}`);
      }
      await f.app.close();
      const doc = read('docs/operator/http-api.md');
      const documented = new Set<string>();
      for (const row of doc.matchAll(/^\| (`(?:GET|POST) [^|]*)\|/gm)) for (const m of row[1]!.matchAll(/`(GET|POST) ([^`?\s]+)/g)) documented.add(`${m[1]} ${m[2]}`);
      expect([...documented].sort()).toEqual([...routes].sort());
    } finally {
      await removeDir(root);
    }
  });

  it('every setting the README and the operator docs name is one the code reads (no stale names)', () => {
    const read_ = new Set<string>([...ENV_VARIABLES, ...Object.values(AGENT_SETTINGS).map(([, variable]) => variable), RERUN_MARK]);
    // Names the compose file takes from its .env (and the image's build argument), Node's own, glibc's (set by the start: heap-flags.ts), the tests' switch, the JetStream stream's.
    const others = new Set(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', ...Object.keys(MALLOC_ENV), 'HOMELAB_TEST_DOCKER', EVENTS_STREAM, ACTIONS_BUCKET, LEADER_BUCKET, STATE_BUCKET, OUTBOX_BUCKET, ...['compose.yaml', 'deploy/nats/compose.yaml'].flatMap((f) => [...read(f).matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!))]);
    const stale: string[] = [];
    for (const f of ['README.md', ...readdirSync(path.join(repoRoot, 'docs/operator')).map((n) => `docs/operator/${n}`)]) {
      for (const m of read(f).matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`/g)) {
        const name = m[1]!;
        if (!read_.has(name) && !others.has(name)) stale.push(`${f}: ${name}`);
      }
    }
    expect(stale).toEqual([]);
  });
});
