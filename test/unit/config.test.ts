import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { registryAuth } from '../../src/docker/registry.js';

describe('loadConfig', () => {
  it('has defaults for everything', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 18180, host: '127.0.0.1', reconcileIntervalS: 30, agentSilentAfterS: 300, worldPruneAfterH: 72, aliases: {} });
    expect(c.homelabRoot.endsWith('var/homelab')).toBe(true);
    expect(c.telegram.token).toBeUndefined();
    expect(Object.isFrozen(c) && Object.isFrozen(c.telegram)).toBe(true);
  });

  it.each([
    ['PORT', 'abc', /PORT: must be a whole number/],
    ['PORT', '70000', /PORT: must be at most 65535/],
    ['PORT', '-1', /PORT: must be a whole number/],
    ['NODE_ALIAS_MAP', '{oops', /NODE_ALIAS_MAP: is not valid JSON/],
    ['NODE_ALIAS_MAP', '["a"]', /NODE_ALIAS_MAP: must be a JSON object/],
    ['NODE_ALIAS_MAP', '{"a":"b/c"}', /NODE_ALIAS_MAP: entry/],
    ['RECONCILE_INTERVAL_S', '0', /RECONCILE_INTERVAL_S: must be at least 1/],
    ['RECONCILE_INTERVAL_S', '1.5', /RECONCILE_INTERVAL_S: must be a whole number/],
    ['TELEGRAM_ADMIN_IDS', '12,bob', /TELEGRAM_ADMIN_IDS: "bob" is not a numeric/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['TZ', 'Mars/Olympus', /TZ: unknown time zone/],
    ['INGEST_TOKENS', 'piha', /INGEST_TOKENS: must be node=token pairs/],
    ['TELEGRAM_API_ROOT', 'not a url', /TELEGRAM_API_ROOT/],
    ['UPDATE_CHECK_INTERVAL_H', '0', /UPDATE_CHECK_INTERVAL_H: must be at least 1/],
    ['INSECURE_REGISTRIES', 'http://registry.lan:5000', /INSECURE_REGISTRIES: "http:\/\/registry.lan:5000" is not host\[:port\]/],
    ['INSECURE_REGISTRIES', 'a b', /INSECURE_REGISTRIES: "a b" is not host\[:port\]/],
    ['NATS_URL', 'http://nats.lan:4222', /NATS_URL: "http:\/\/nats.lan:4222": the scheme must be nats:\/\/ or tls:\/\//],
    ['NATS_URL', 'nats://a:4222, ::oops', /NATS_URL: "::oops" is not a URL/],
    ['NATS_URL', 'nats://a:4222/x', /NATS_URL: "nats:\/\/a:4222\/x": a server is host\[:port\] only/],
    ['NATS_URL', ' , ', /NATS_URL: names no server/],
    ['NATS_CREDS', '/nonexistent/cp.creds', /NATS_CREDS: is set but NATS_URL is not/],
    ['CONTROL_PLANE_ID', 'vps.lan', /CONTROL_PLANE_ID: must be letters, digits, - and _/],
  ])('%s=%s is refused with one clear line', (name, value, re) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(name);
    expect((error as Error).message).toMatch(re);
    expect((error as Error).message).not.toContain('\n');
  });

  it('registry settings: insecure registries, and credentials from DOCKER_CONFIG/config.json (read by docker/registry.ts)', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/hcp-dockercfg-`);
    try {
      expect(loadConfig({ INSECURE_REGISTRIES: 'registry.lan:5000, 10.0.0.5:5000,[fd00::1]:5000' }).updates.insecure).toEqual(['registry.lan:5000', '10.0.0.5:5000', '[fd00::1]:5000']);
      // No config.json: no credentials, not an error (as docker treats it).
      expect(loadConfig({ DOCKER_CONFIG: dir }).updates.dockerConfig).toBe(dir);
      expect(registryAuth(loadConfig({}).updates.dockerConfig).credentials).toEqual(new Map());
      expect(registryAuth(dir).credentials).toEqual(new Map());
      let error: unknown;
      try {
        registryAuth('/nonexistent/docker');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toMatch(/^DOCKER_CONFIG: \/nonexistent\/docker is not a directory/);
      await writeFile(`${dir}/config.json`, JSON.stringify({
        auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:tok').toString('base64') }, 'ghcr.io': { username: 'me', password: 'ghp_x' }, 'quay.io': { identitytoken: 'abc' } },
        credsStore: 'desktop',
      }));
      const c = registryAuth(dir);
      expect(Object.fromEntries(c.credentials)).toEqual({ 'docker.io': { username: 'hub', password: 'tok' }, 'ghcr.io': { username: 'me', password: 'ghp_x' } });
      expect(c.unsupported).toEqual(['credsStore desktop', 'identitytoken for quay.io']);
      await writeFile(`${dir}/config.json`, '{"auths": {');
      expect(() => registryAuth(dir)).toThrow(/DOCKER_CONFIG: .*config.json is not JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('SSH_KNOWN_HOSTS defaults to ssh/known_hosts under HOMELAB_ROOT, and the engines get it', async () => {
    const { engineOptionsOf } = await import('../../src/docker/engine.js');
    const cfg = loadConfig({ HOMELAB_ROOT: '/srv/homelab' });
    expect(cfg.ssh.knownHosts).toBe('/srv/homelab/ssh/known_hosts');
    expect(engineOptionsOf(cfg)).toEqual({ knownHostsPath: '/srv/homelab/ssh/known_hosts' });
    expect(loadConfig({ HOMELAB_ROOT: '/srv/homelab', SSH_KNOWN_HOSTS: '/etc/ssh/ssh_known_hosts' }).ssh.knownHosts).toBe('/etc/ssh/ssh_known_hosts');
  });

  it('NATS: servers, credentials files checked at start, the consumer named after the host by default', () => {
    const c = loadConfig({ NATS_URL: 'nats://10.0.0.2:4222, tls://nats.example.org' });
    expect(c.nats).toEqual({ servers: ['nats://10.0.0.2:4222', 'tls://nats.example.org'], creds: undefined, nkey: undefined, tls: undefined });
    expect(c.controlPlaneId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(loadConfig({}).nats).toBeUndefined();
    expect(() => loadConfig({ NATS_URL: 'nats://a', NATS_CREDS: '/nonexistent/cp.creds' })).toThrow(/NATS_CREDS: no such file "\/nonexistent\/cp.creds"/);
    expect(() => loadConfig({ NATS_URL: 'nats://a', NATS_TLS_CERT: '/etc/hostname' })).toThrow(/NATS_TLS_KEY: is needed too/);
    // A password in NATS_URL is never echoed back.
    expect(() => loadConfig({ NATS_URL: 'http://cp:s3cret-pw@nats.lan' })).toThrow(/"http:\/\/cp:<hidden>@nats.lan"/);
    expect(() => loadConfig({ NATS_URL: 'http://cp:s3cret-pw@nats.lan' })).not.toThrow(/s3cret/);
  });

  it('never echoes a secret in its error', () => {
    expect(() => loadConfig({ TELEGRAM_BOT_TOKEN: 'secret-value-that-is-wrong' })).toThrow(/TELEGRAM_BOT_TOKEN: .*hidden/);
    try {
      loadConfig({ TELEGRAM_BOT_TOKEN: 'secret-value-that-is-wrong' });
    } catch (err) {
      expect((err as Error).message).not.toContain('secret-value');
    }
  });

  it('parses the alias map, admin ids and ingest tokens', () => {
    const c = loadConfig({
      NODE_ALIAS_MAP: '{"node-2":"chelsty-infra"}',
      TELEGRAM_ADMIN_IDS: '123, 456',
      INGEST_TOKENS: 'piha=0123456789abcdef0123,chelsty-infra=abcdefabcdefabcdef99',
    });
    expect(c.aliases).toEqual({ 'node-2': 'chelsty-infra' });
    expect(c.telegram.adminIds).toEqual([123, 456]);
    expect(c.ingestTokens.piha).toBe('0123456789abcdef0123');
  });
});

describe('loadAgentConfig', () => {
  const base = loadConfig({ HOMELAB_ROOT: '/srv/homelab', HOSTS_DIR: '/srv/hosts' });
  it('with NATS_URL the agent publishes there; with a push URL too it is refused', async () => {
    const { loadAgentConfig } = await import('../../src/config.js');
    const withNats = loadConfig({ HOMELAB_ROOT: '/srv/homelab', HOSTS_DIR: '/srv/hosts', NATS_URL: 'nats://10.0.0.2:4222' });
    expect(loadAgentConfig(withNats, { AGENT_NODE: 'piha' }, {}).nats).toEqual(withNats.nats);
    expect(() => loadAgentConfig(withNats, { AGENT_NODE: 'piha' }, { push: 'http://x:18180/ingest/events', token: 't'.repeat(16) })).toThrow(/^AGENT_PUSH_URL \(--push\): and NATS_URL are both set/);
  });
  it('defaults from the shared settings; a flag wins over its variable', async () => {
    const { loadAgentConfig } = await import('../../src/config.js');
    const a = loadAgentConfig(base, { AGENT_NODE: 'piha', AGENT_INTERVAL_S: '10' }, { interval: '2m' });
    expect(a).toEqual({ node: 'piha', servicesFile: '/srv/hosts/piha/services.yaml', push: undefined, nats: undefined, eventsDir: '/srv/homelab/events', intervalMs: 120_000, diskPaths: ['/'], dockerSocket: '/var/run/docker.sock', stateDir: '/srv/homelab/agent/piha' });
  });
  it.each([
    [{}, {}, /^AGENT_NODE \(--node\): is required/],
    [{ AGENT_NODE: 'a/b' }, {}, /^AGENT_NODE \(--node\): "a\/b" is not a node name/],
    [{ AGENT_NODE: 'n' }, { push: 'http://x:18180/ingest/events' }, /^AGENT_TOKEN \(--token\): is required with AGENT_PUSH_URL/],
    [{ AGENT_NODE: 'n', AGENT_PUSH_URL: 'ftp://x' }, {}, /^AGENT_PUSH_URL \(--push\): must be an http\(s\) URL/],
    [{ AGENT_NODE: 'n', AGENT_INTERVAL_S: 'soon' }, {}, /^AGENT_INTERVAL_S \(--interval\): "soon" is not a duration/],
    [{ AGENT_NODE: 'n', AGENT_DISK_PATHS: '/,srv' }, {}, /^AGENT_DISK_PATHS \(--disk-paths\): must be absolute paths/],
  ])('%o %o is refused naming the setting', async (env, flags, re) => {
    const { loadAgentConfig } = await import('../../src/config.js');
    expect(() => loadAgentConfig(base, env, flags)).toThrow(re);
  });
});
