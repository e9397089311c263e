// The NATS cluster files the operator docs hand out (deploy/nats/): nats.conf is one Debian's
// nats-server accepts, and compose.yaml starts that server with it, named and routed per host.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../support/helpers.js';
import { natsMissing } from '../support/nats.js';

const dir = path.join(repoRoot, 'deploy', 'nats');
const missing = natsMissing();

describe('deploy/nats', () => {
  it.skipIf(missing !== undefined)('nats.conf is a configuration nats-server accepts, with the passwords from the environment', () => {
    const bin = spawnSync('nats-server', ['--version']).status === 0 ? 'nats-server' : '/usr/sbin/nats-server';
    const r = spawnSync(bin, ['-c', path.join(dir, 'nats.conf'), '-t'], { env: { PATH: process.env.PATH ?? '', NATS_CP_PASSWORD: 'a', NATS_PI4_PASSWORD: 'b' }, encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stderr + r.stdout).toMatch(/is valid/);
  });

  it('compose.yaml runs that file, each host naming itself and its routes, JetStream data kept on the host', () => {
    const c = parse(readFileSync(path.join(dir, 'compose.yaml'), 'utf8')) as { services: { nats: { command: string[]; volumes: string[]; restart: string } } };
    const nats = c.services.nats;
    expect(nats.command.slice(0, 2)).toEqual(['-c', '/etc/nats/nats.conf']);
    expect(nats.command.join(' ')).toMatch(/--server_name \$\{NATS_NAME.*--routes \$\{NATS_ROUTES/);
    expect(nats.volumes).toContain('./nats.conf:/etc/nats/nats.conf:ro');
    expect(nats.volumes.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(readFileSync(path.join(dir, 'nats.conf'), 'utf8')).toMatch(/store_dir: \/data/);
    expect(nats.restart).toBe('unless-stopped');
  });
});
