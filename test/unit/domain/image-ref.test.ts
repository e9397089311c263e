// The reference parser against a table that includes the cases of Docker's own reference tests
// (github.com/distribution/reference: reference_test.go and normalize_test.go).
import { describe, expect, it } from 'vitest';
import { familiar, isLoopbackRegistry, parseImageRef, registryHost, repoDigestFor, shortDigest } from '../../../src/domain/image-ref.js';

const F64 = 'f'.repeat(64);
const HEX = '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a';

describe('parseImageRef: valid references, normalised as docker pull reads them', () => {
  const cases: [string, { name: string; tag?: string; digest?: string }][] = [
    // normalize_test.go: valid names
    ['docker/docker', { name: 'docker.io/docker/docker' }],
    ['library/debian', { name: 'docker.io/library/debian' }],
    ['debian', { name: 'docker.io/library/debian' }],
    ['localhost/library/debian', { name: 'localhost/library/debian' }],
    ['localhost/debian', { name: 'localhost/debian' }],
    ['LOCALDOMAIN/library/debian', { name: 'LOCALDOMAIN/library/debian' }],
    ['docker.io/docker/docker', { name: 'docker.io/docker/docker' }],
    ['docker.io/library/debian', { name: 'docker.io/library/debian' }],
    ['docker.io/debian', { name: 'docker.io/library/debian' }],
    ['index.docker.io/docker/docker', { name: 'docker.io/docker/docker' }],
    ['index.docker.io/debian', { name: 'docker.io/library/debian' }],
    ['127.0.0.1:5000/docker/docker', { name: '127.0.0.1:5000/docker/docker' }],
    ['127.0.0.1:5000/library/debian', { name: '127.0.0.1:5000/library/debian' }],
    ['127.0.0.1:5000/debian', { name: '127.0.0.1:5000/debian' }],
    ['192.168.0.1', { name: 'docker.io/library/192.168.0.1' }],
    ['192.168.0.1:80', { name: 'docker.io/library/192.168.0.1', tag: '80' }],
    ['192.168.0.1:8/debian', { name: '192.168.0.1:8/debian' }],
    ['192.168.0.2:25000/debian', { name: '192.168.0.2:25000/debian' }],
    ['thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev', { name: 'docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev' }],
    ['[fc00::1]:5000/docker', { name: '[fc00::1]:5000/docker' }],
    ['[fc00::1]:5000/docker/docker', { name: '[fc00::1]:5000/docker/docker' }],
    ['docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', { name: `docker.io/library/${HEX}` }],
    // reference_test.go
    ['test_com', { name: 'docker.io/library/test_com' }],
    ['test.com:tag', { name: 'docker.io/library/test.com', tag: 'tag' }],
    ['test.com:5000', { name: 'docker.io/library/test.com', tag: '5000' }],
    ['test.com/repo:tag', { name: 'test.com/repo', tag: 'tag' }],
    ['test:5000/repo', { name: 'test:5000/repo' }],
    ['test:5000/repo:tag', { name: 'test:5000/repo', tag: 'tag' }],
    [`test:5000/repo@sha256:${F64}`, { name: 'test:5000/repo', digest: `sha256:${F64}` }],
    [`test:5000/repo:tag@sha256:${F64}`, { name: 'test:5000/repo', tag: 'tag', digest: `sha256:${F64}` }],
    ['lowercase:Uppercase', { name: 'docker.io/library/lowercase', tag: 'Uppercase' }],
    ['sub-dom1.foo.com/bar/baz/quux', { name: 'sub-dom1.foo.com/bar/baz/quux' }],
    ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', { name: 'sub-dom1.foo.com/bar/baz/quux', tag: 'some-long-tag' }],
    ['b.gcr.io/test.example.com/my-app:test.example.com', { name: 'b.gcr.io/test.example.com/my-app', tag: 'test.example.com' }],
    ['xn--n3h.com/myimage:xn--n3h.com', { name: 'xn--n3h.com/myimage', tag: 'xn--n3h.com' }],
    ['foo_bar.com:8080', { name: 'docker.io/library/foo_bar.com', tag: '8080' }],
    ['foo/foo_bar.com:8080', { name: 'docker.io/foo/foo_bar.com', tag: '8080' }],
    ['192.168.1.1', { name: 'docker.io/library/192.168.1.1' }],
    ['192.168.1.1:tag', { name: 'docker.io/library/192.168.1.1', tag: 'tag' }],
    ['192.168.1.1:5000', { name: 'docker.io/library/192.168.1.1', tag: '5000' }],
    ['192.168.1.1/repo', { name: '192.168.1.1/repo' }],
    ['192.168.1.1:5000/repo', { name: '192.168.1.1:5000/repo' }],
    ['192.168.1.1:5000/repo:5050', { name: '192.168.1.1:5000/repo', tag: '5050' }],
    ['[2001:db8::1]:5000/repo', { name: '[2001:db8::1]:5000/repo' }],
    ['[2001:db8::1]:5000/repo:tag', { name: '[2001:db8::1]:5000/repo', tag: 'tag' }],
    [`[2001:db8::1]:5000/repo@sha256:${F64}`, { name: '[2001:db8::1]:5000/repo', digest: `sha256:${F64}` }],
    ['[2001:db8::]:5000/repo', { name: '[2001:db8::]:5000/repo' }],
    ['[::1]:5000/repo', { name: '[::1]:5000/repo' }],
    ['[2001:db8:1:2:3:4:5:6]/repo:tag', { name: '[2001:db8:1:2:3:4:5:6]/repo', tag: 'tag' }],
    // what homelabs run
    ['nginx:1.27-alpine', { name: 'docker.io/library/nginx', tag: '1.27-alpine' }],
    ['ghcr.io/home-assistant/home-assistant:stable', { name: 'ghcr.io/home-assistant/home-assistant', tag: 'stable' }],
    ['koenkk/zigbee2mqtt:latest', { name: 'docker.io/koenkk/zigbee2mqtt', tag: 'latest' }],
    ['127.0.0.1:41234/demo/app:stable', { name: '127.0.0.1:41234/demo/app', tag: 'stable' }],
  ];
  it.each(cases)('%s', (text, want) => {
    const r = parseImageRef(text);
    expect({ name: r.name, tag: r.tag, digest: r.digest }).toEqual({ tag: undefined, digest: undefined, ...want });
  });
});

describe('parseImageRef: what Docker refuses', () => {
  const cases: [string, RegExp][] = [
    ['', /at least one component/],
    [':justtag', /invalid reference format/],
    [`@sha256:${F64}`, /invalid reference format/],
    ['repo@sha256:ffffffffffffffffffffffffffffffffff', /invalid sha256 digest length/],
    [`validname@invaliddigest:${F64}`, /unsupported digest algorithm/],
    ['Uppercase:tag', /must be lowercase/],
    ['test:5000/Uppercase/lowercase:tag', /must be lowercase/],
    ['docker/Docker', /must be lowercase/],
    ['docker.io/docker/Docker', /must be lowercase/],
    [`${'a/'.repeat(128)}a:tag`, /not be more than 255 characters/],
    ['aa/asdf$$^/aa', /invalid reference format/],
    ['https://github.com/docker/docker', /invalid reference format/],
    ['-docker', /invalid reference format/],
    ['-docker/docker', /invalid reference format/],
    ['-docker.io/docker/docker', /invalid reference format/],
    ['docker///docker', /invalid reference format/],
    ['docker.io/docker///docker', /invalid reference format/],
    ['docker.io/docker/', /invalid reference format/],
    [HEX, /64 hex characters/],
    ['[2001:db8::1]', /invalid reference format/],
    ['[2001:db8::1]:tag', /invalid reference format/],
    ['[fe80::1%eth0]:5000/repo', /invalid reference format/],
    ['2001:db8::1/repo', /invalid reference format/],
    ['[fc00::1]:5000/Docker', /must be lowercase/],
    ['docker://quay.io/library/foo:bar', /invalid reference format/],
    [' ', /invalid reference format/],
  ];
  it.each(cases)('%j', (text, why) => {
    expect(() => parseImageRef(text)).toThrow(why);
  });
});

describe('helpers', () => {
  it('Docker Hub answers on registry-1.docker.io; others on their own name', () => {
    expect(registryHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryHost('ghcr.io')).toBe('ghcr.io');
  });
  it('familiar names leave out docker.io and library/', () => {
    expect(familiar(parseImageRef('docker.io/library/nginx'), '1.27')).toBe('nginx:1.27');
    expect(familiar(parseImageRef('ghcr.io/a/b'), 'x')).toBe('ghcr.io/a/b:x');
  });
  it('finds the repo digest of the same repository, however it is spelled', () => {
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    expect(repoDigestFor(parseImageRef('nginx:1.27'), [`other/x@${d1}`, `nginx@${d2}`])).toBe(d2);
    expect(repoDigestFor(parseImageRef('docker.io/library/nginx'), [`nginx@${d2}`])).toBe(d2);
    expect(repoDigestFor(parseImageRef('127.0.0.1:5000/demo/app:stable'), [`127.0.0.1:5000/demo/app@${d1}`])).toBe(d1);
    expect(repoDigestFor(parseImageRef('nginx'), ['garbage', `nginx:tag`])).toBeUndefined();
  });
  it('short digests and loopback registries', () => {
    expect(shortDigest(`sha256:${HEX}`)).toBe('1a3f5e7d9c1b');
    expect(isLoopbackRegistry('127.0.0.1:5000')).toBe(true);
    expect(isLoopbackRegistry('localhost:5000')).toBe(true);
    expect(isLoopbackRegistry('[::1]:5000')).toBe(true);
    expect(isLoopbackRegistry('registry.lan:5000')).toBe(false);
    expect(isLoopbackRegistry('docker.io')).toBe(false);
  });
});
