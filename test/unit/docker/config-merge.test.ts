// Recreating a container keeps what the operator gave it and takes the rest from the new image.
import { describe, expect, it } from 'vitest';
import { imageSettingsChanged, mergeImageConfig, type ContainerConfig, type ImageDefaults } from '../../../src/docker/config-merge.js';

const v1: ImageDefaults = {
  Cmd: ['sleep', '3600'],
  Entrypoint: null,
  Env: ['PATH=/bin', 'APP_VERSION=1'],
  Labels: { 'org.opencontainers.image.version': '1.0.0', 'org.opencontainers.image.source': 'https://example.test/app' },
  WorkingDir: '/srv',
  User: '',
  ExposedPorts: { '80/tcp': {} },
  Volumes: { '/data': {} },
  StopSignal: 'SIGTERM',
  Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000 },
};
const v2: ImageDefaults = {
  Cmd: ['httpd', '-f'],
  Entrypoint: ['/entry.sh'],
  Env: ['PATH=/bin', 'APP_VERSION=2', 'NEW_IN_V2=yes'],
  Labels: { 'org.opencontainers.image.version': '2.0.0', 'org.opencontainers.image.source': 'https://example.test/app' },
  WorkingDir: '/app',
  User: 'app',
  ExposedPorts: { '8080/tcp': {} },
  Volumes: { '/var/lib/app': {} },
  StopSignal: 'SIGQUIT',
  Healthcheck: { Test: ['CMD', 'wget', '-q', 'localhost:8080'], Interval: 10_000_000_000 },
};

/** A container as the engine reports it after `docker run` on `image` with the operator's settings. */
function created(image: ImageDefaults, given: ContainerConfig = {}): ContainerConfig {
  const env = [...(given.Env ?? [])];
  for (const e of image.Env ?? []) if (!env.some((g) => g.split('=')[0] === e.split('=')[0])) env.push(e);
  const entrypointGiven = given.Entrypoint !== undefined;
  return {
    Hostname: 'abc123',
    Image: 'registry.test/app:stable',
    Tty: false,
    ...image,
    ...given,
    Entrypoint: entrypointGiven ? given.Entrypoint : image.Entrypoint,
    Cmd: given.Cmd !== undefined ? given.Cmd : entrypointGiven ? null : image.Cmd,
    Env: env,
    Labels: { ...(image.Labels ?? {}), ...(given.Labels ?? {}) },
    ExposedPorts: { ...(image.ExposedPorts ?? {}), ...(given.ExposedPorts ?? {}) },
    Volumes: { ...(image.Volumes ?? {}), ...(given.Volumes ?? {}) },
  };
}

describe('mergeImageConfig', () => {
  it('docker run with no command: every setting follows the new image', () => {
    const c = created(v1);
    const m = mergeImageConfig(c, v1, v2);
    expect(m).toMatchObject({ Cmd: v2.Cmd, Entrypoint: v2.Entrypoint, WorkingDir: '/app', User: 'app', StopSignal: 'SIGQUIT', Healthcheck: v2.Healthcheck });
    expect(m.Env).toEqual(v2.Env);
    expect(m.Labels).toEqual(v2.Labels);
    expect(m.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(m.Volumes).toEqual({ '/var/lib/app': {} });
    // What the container alone has stays.
    expect(m).toMatchObject({ Hostname: 'abc123', Image: 'registry.test/app:stable', Tty: false });
  });

  it('docker run with a command: the command is kept, the entrypoint follows the image', () => {
    const c = created(v1, { Cmd: ['sh', '-c', 'exec sleep 60'] });
    const m = mergeImageConfig(c, v1, v2);
    expect(m.Cmd).toEqual(['sh', '-c', 'exec sleep 60']);
    expect(m.Entrypoint).toEqual(v2.Entrypoint);
  });

  it('an entrypoint the operator gave keeps the command as it is, even one equal to the image\'s', () => {
    const c = created(v1, { Entrypoint: ['/bin/tini', '--'], Cmd: ['sleep', '3600'] });
    const m = mergeImageConfig(c, v1, v2);
    expect(m.Entrypoint).toEqual(['/bin/tini', '--']);
    expect(m.Cmd).toEqual(['sleep', '3600']);
    // Given without a command: none, as Docker's create does.
    const bare = mergeImageConfig(created(v1, { Entrypoint: ['/bin/tini'] }), v1, v2);
    expect(bare.Cmd).toBeNull();
  });

  it('env: an override of an image variable and an added variable are kept, the image\'s own values follow', () => {
    const c = created(v1, { Env: ['APP_VERSION=pinned-by-operator', 'DB_URL=postgres://db/app'] });
    const m = mergeImageConfig(c, v1, v2);
    expect(m.Env).toEqual(['APP_VERSION=pinned-by-operator', 'DB_URL=postgres://db/app', 'PATH=/bin', 'NEW_IN_V2=yes']);
  });

  it('a variable or label the new image drops is gone unless the operator gave it', () => {
    const v3: ImageDefaults = { ...v2, Env: ['PATH=/bin'], Labels: {} };
    const m = mergeImageConfig(created(v1, { Labels: { 'traefik.enable': 'true' } }), v1, v3);
    expect(m.Env).toEqual(['PATH=/bin']);
    expect(m.Labels).toEqual({ 'traefik.enable': 'true' });
  });

  it('a compose-made container: its labels, ports, volumes, user and working dir are the operator\'s and kept', () => {
    const compose = {
      'com.docker.compose.project': 'media',
      'com.docker.compose.service': 'app',
      'com.docker.compose.config-hash': 'f00',
      'org.opencontainers.image.version': 'overridden-in-compose',
    };
    const c = created(v1, { Labels: compose, ExposedPorts: { '9000/tcp': {} }, User: '1000:1000', WorkingDir: '/work', Volumes: { '/config': {} }, Env: ['TZ=Europe/Berlin'] });
    const m = mergeImageConfig(c, v1, v2);
    expect(m.Labels).toEqual({ ...compose, 'org.opencontainers.image.source': 'https://example.test/app' });
    expect(m.ExposedPorts).toEqual({ '8080/tcp': {}, '9000/tcp': {} });
    expect(m.Volumes).toEqual({ '/var/lib/app': {}, '/config': {} });
    expect(m).toMatchObject({ User: '1000:1000', WorkingDir: '/work' });
    expect(m.Env).toEqual(['TZ=Europe/Berlin', ...v2.Env!]);
  });

  it('a health check and stop signal the operator set are kept; none set and none in the new image: dropped', () => {
    const hc = { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 5_000_000_000 };
    expect(mergeImageConfig(created(v1, { Healthcheck: hc, StopSignal: 'SIGINT' }), v1, v2)).toMatchObject({ Healthcheck: hc, StopSignal: 'SIGINT' });
    const plain: ImageDefaults = { Cmd: ['sh'], Env: ['PATH=/bin'] };
    const m = mergeImageConfig(created(v1), v1, plain);
    expect(m).not.toHaveProperty('Healthcheck');
    expect(m).not.toHaveProperty('StopSignal');
    expect(m.WorkingDir).toBe('');
  });

  it('a redeploy of the same image changes nothing (the engine\'s nulls and empties included)', () => {
    for (const given of [{}, { Cmd: ['sleep', '1'] }, { Entrypoint: ['/x'] }, { Env: ['APP_VERSION=9', 'A=b'] }, { Labels: { a: 'b' }, User: 'nobody' }] as ContainerConfig[]) {
      const c = created(v1, given);
      const m = mergeImageConfig(c, v1, v1);
      expect(imageSettingsChanged(c, m)).toEqual([]);
      expect(m.Env).toEqual(c.Env);
    }
    const engineShape: ContainerConfig = { Cmd: ['sh'], Entrypoint: null, Env: ['PATH=/bin'], Labels: {}, WorkingDir: '', User: '', Volumes: null };
    const imageShape: ImageDefaults = { Cmd: ['sh'], Env: ['PATH=/bin'], WorkingDir: '', Labels: null };
    expect(imageSettingsChanged(engineShape, mergeImageConfig(engineShape, imageShape, imageShape))).toEqual([]);
  });

  it('names what followed the new image', () => {
    const c = created(v1, { Cmd: ['sleep', '1'] });
    expect(imageSettingsChanged(c, mergeImageConfig(c, v1, v2)).sort()).toEqual(['Entrypoint', 'Env', 'ExposedPorts', 'Healthcheck', 'Labels', 'StopSignal', 'User', 'Volumes', 'WorkingDir']);
  });
});
