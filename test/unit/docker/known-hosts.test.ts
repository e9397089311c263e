// known_hosts as OpenSSH reads it: plain and hashed hosts (hashed by ssh-keygen -H itself),
// [host]:port, wildcards and negation, @revoked, changed keys, unreadable lines.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHostKey, entryMatches, explainRefusal, hostKeyFromBlob, knownHostsLine, knownHostsName, listsHost, parseKnownHosts, type HostKey } from '../../../src/docker/known-hosts.js';
import { parseDesiredText } from '../../../src/store/desired.js';
import { removeDir, tempDir } from '../../support/helpers.js';

let dir: string;
let a: HostKey;
let b: HostKey;
let aPub: string;
let aFingerprint: string;

function keyOf(pub: string): HostKey {
  return hostKeyFromBlob(Buffer.from(pub.split(' ')[1]!, 'base64'));
}

beforeAll(async () => {
  dir = await tempDir('hcp-known-hosts-');
  for (const k of ['a', 'b']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, k)]);
  aPub = (await readFile(path.join(dir, 'a.pub'), 'utf8')).trim();
  a = keyOf(aPub);
  b = keyOf((await readFile(path.join(dir, 'b.pub'), 'utf8')).trim());
  aFingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'a.pub')], { encoding: 'utf8' }).split(/\s+/)[1]!;
});
afterAll(async () => {
  await removeDir(dir);
});

describe('known_hosts', () => {
  it('fingerprints as ssh-keygen -l prints them; names hosts as OpenSSH writes them', () => {
    expect(a.type).toBe('ssh-ed25519');
    expect(a.fingerprint).toBe(aFingerprint);
    expect(knownHostsName('Node1.Example', 22)).toBe('node1.example');
    expect(knownHostsName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
    expect(knownHostsName('[fd7a::1]', 22)).toBe('fd7a::1');
    expect(knownHostsLine('[10.0.0.5]:2222', a)).toBe(`[10.0.0.5]:2222 ${aPub.split(' ').slice(0, 2).join(' ')}`);
  });

  it('accepts the listed key, calls another key of the same type changed, and another host unknown', () => {
    const known = parseKnownHosts(`# comment\n\nnode1,10.0.0.5 ${aPub}\n`);
    expect(known.errors).toEqual([]);
    expect(checkHostKey(known, 'node1', a)).toEqual({ ok: true, line: 3 });
    expect(checkHostKey(known, '10.0.0.5', a)).toEqual({ ok: true, line: 3 });
    expect(checkHostKey(known, 'node1', b)).toMatchObject({ ok: false, kind: 'changed', line: 3, listed: { fingerprint: a.fingerprint } });
    expect(checkHostKey(known, 'node2', a)).toEqual({ ok: false, kind: 'unknown' });
    // Port 22 and another port are different hosts.
    expect(checkHostKey(known, '[node1]:2222', a)).toEqual({ ok: false, kind: 'unknown' });
  });

  it('matches hosts hashed by ssh-keygen -H, and only those', async () => {
    const file = path.join(dir, 'hashed');
    await writeFile(file, `[127.0.0.1]:2222 ${aPub}\nnode1 ${aPub}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = await readFile(file, 'utf8');
    expect(text).not.toMatch(/node1|127\.0\.0\.1/);
    const known = parseKnownHosts(text);
    expect(checkHostKey(known, '[127.0.0.1]:2222', a)).toMatchObject({ ok: true });
    expect(checkHostKey(known, 'node1', a)).toMatchObject({ ok: true });
    expect(checkHostKey(known, 'node2', a)).toEqual({ ok: false, kind: 'unknown' });
    expect(listsHost(known, 'node1')).toBe(true);
    expect(listsHost(known, 'node2')).toBe(false);
  });

  it('wildcards and negation as OpenSSH: a matching !pattern vetoes the line', () => {
    expect(entryMatches('*.lan,!printer.lan', 'nas.lan')).toBe(true);
    expect(entryMatches('*.lan,!printer.lan', 'printer.lan')).toBe(false);
    expect(entryMatches('node?', 'node7')).toBe(true);
    expect(entryMatches('node?', 'node77')).toBe(false);
    expect(entryMatches('10.0.0.*', '10.0.0.12')).toBe(true);
    expect(entryMatches('a.b', 'aXb')).toBe(false);
  });

  it('a @revoked key is refused wherever it is listed, even beside a line that trusts it', () => {
    const known = parseKnownHosts(`node1 ${aPub}\n@revoked * ${aPub}\n`);
    expect(checkHostKey(known, 'node1', a)).toEqual({ ok: false, kind: 'revoked', line: 2 });
    expect(checkHostKey(known, 'node1', b)).toMatchObject({ ok: false, kind: 'changed' });
  });

  it('unreadable lines are reported and never trusted', () => {
    const [type, b64] = aPub.split(' ');
    const known = parseKnownHosts(`node1\n@trusted node1 ${type} ${b64}\nnode1 ssh-rsa ${b64}\nnode1 ${type} not*base64\nnode2 ${type} ${b64}\n`);
    expect(known.errors.map((e) => e.line)).toEqual([1, 2, 3, 4]);
    expect(known.errors[2]!.reason).toBe('the key is not a ssh-rsa key');
    expect(checkHostKey(known, 'node1', a)).toEqual({ ok: false, kind: 'unknown' });
    expect(checkHostKey(known, 'node2', a)).toEqual({ ok: true, line: 5 });
  });

  it('explains each refusal with the fingerprint and what to do', () => {
    const r = { name: '[10.0.0.5]:2222', host: '10.0.0.5', port: 2222, key: a, file: '/data/ssh/known_hosts' };
    const where = "nas's Docker Engine at ssh://root@10.0.0.5:2222";
    expect(explainRefusal({ ...r, verdict: { ok: false, kind: 'unknown' } }, where, 'nas')).toBe(
      `refused ${where}: its SSH host key is not in SSH_KNOWN_HOSTS (/data/ssh/known_hosts); it presented the ssh-ed25519 key ${a.fingerprint}. Nothing was sent. Check that fingerprint on the node (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then trust it: control-plane hosts trust nas (or ssh-keyscan -p 2222 -t ssh-ed25519 10.0.0.5 >> /data/ssh/known_hosts)`,
    );
    expect(explainRefusal({ ...r, verdict: { ok: false, kind: 'changed', line: 3, listed: b } }, where, 'nas')).toMatch(new RegExp(`lists ${b.fingerprint.replace(/[+/]/g, '\\$&')} for it.*never replaced automatically`));
    expect(explainRefusal({ ...r, verdict: { ok: false, kind: 'revoked', line: 7 } }, where, 'nas')).toMatch(/line 7\) marks @revoked/);
  });
});

describe('tls: in services.yaml', () => {
  const parse = (docker: string) => parseDesiredText('n1', '/hosts/n1/services.yaml', `docker:\n${docker}services:\n  a: {}\n`);
  it('dir or three files; relative paths are relative to the node folder', () => {
    expect(parse('  url: tcp://10.0.0.5:2376\n  tls:\n    dir: certs\n')).toMatchObject({ ok: true, value: { docker: { url: 'tcp://10.0.0.5:2376', tls: { ca: '/hosts/n1/certs/ca.pem', cert: '/hosts/n1/certs/cert.pem', key: '/hosts/n1/certs/key.pem' } } } });
    expect(parse('  url: tcp://10.0.0.5:2376\n  tls:\n    ca: /etc/hcp/ca.pem\n    cert: c.pem\n    key: k.pem\n')).toMatchObject({ ok: true, value: { docker: { tls: { ca: '/etc/hcp/ca.pem', cert: '/hosts/n1/c.pem', key: '/hosts/n1/k.pem' } } } });
  });
  it('verify: false, a missing file, both forms, or TLS on another transport are refused with the line', () => {
    expect(parse('  url: tcp://10.0.0.5:2376\n  tls:\n    dir: certs\n    verify: false\n')).toMatchObject({ ok: false, problems: [{ line: 5, reason: expect.stringMatching(/^docker\.tls\.verify: false is not supported/) }] });
    expect(parse('  url: tcp://10.0.0.5:2376\n  tls:\n    ca: a\n    cert: b\n')).toMatchObject({ ok: false, problems: [{ reason: 'docker.tls: needs all three of ca, cert and key (or dir)' }] });
    expect(parse('  url: tcp://10.0.0.5:2376\n  tls:\n    dir: d\n    key: k\n')).toMatchObject({ ok: false, problems: [{ reason: expect.stringMatching(/set either dir/) }] });
    expect(parse('  url: ssh://root@10.0.0.5\n  tls:\n    dir: d\n')).toMatchObject({ ok: false, problems: [{ reason: expect.stringMatching(/^docker\.tls: goes with url: tcp/) }] });
  });
});

describe('the verifier ssh2 calls in the handshake', () => {
  it('refuses, never throws: a known_hosts it cannot read, a blob that is not a key; the error says which', async () => {
    const { explainDockerError, verifyHostKey } = await import('../../../src/docker/engine.js');
    // A directory where the file should be: EISDIR.
    expect(verifyHostKey(dir, '10.9.9.9', 2200, a.blob)).toBe(false);
    const msg = explainDockerError(new Error('Host denied (verification failed)'), { url: 'ssh://root@10.9.9.9:2200' }, 'nas');
    expect(msg).toBe(`refused nas's Docker Engine at ssh://root@10.9.9.9:2200: SSH_KNOWN_HOSTS (${dir}) cannot be read (EISDIR), so no host key is trusted; it presented the ssh-ed25519 key ${a.fingerprint}. Nothing was sent. Let this user read the file`);
    expect(verifyHostKey(path.join(dir, 'none'), '10.9.9.9', 2200, Buffer.from('garbage'))).toBe(false);
    // A file that lists it: accepted, and no refusal is left to explain.
    const file = path.join(dir, 'kh');
    await writeFile(file, `${knownHostsLine('[10.9.9.9]:2200', a)}\n`);
    expect(verifyHostKey(file, '10.9.9.9', 2200, a.blob)).toBe(true);
    expect(explainDockerError(new Error('Host denied (verification failed)'), { url: 'ssh://root@10.9.9.9:2200' }, 'nas')).toMatch(/its SSH host key is not trusted \(SSH_KNOWN_HOSTS\); nothing was sent/);
  });
});
