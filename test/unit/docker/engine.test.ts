import { describe, expect, it } from 'vitest';
import { describeTarget, engineFor, explainDockerError } from '../../../src/docker/engine.js';

const sock = { socket: '/var/run/docker.sock' };
const err = (props: Record<string, unknown>, message = 'boom') => Object.assign(new Error(message), props);

describe('explainDockerError tells the operator what to check', () => {
  it.each([
    [err({ code: 'ENOENT' }), /socket does not exist \(is dockerd running there/],
    [err({ code: 'EACCES' }), /permission denied on the socket/],
    [err({ code: 'ECONNREFUSED' }), /connection refused/],
    [err({ code: 'ETIMEDOUT' }), /ETIMEDOUT \(is the node up and on the tailnet\?\)/],
    [err({ code: 'ENOTFOUND' }), /host name does not resolve/],
    [err({ code: 'ECONNRESET' }), /^lost .* in the middle of the operation \(ECONNRESET: did dockerd stop or restart\?\)/],
    [err({}, 'socket hang up'), /^lost .* in the middle of the operation \(socket hang up/],
    [err({ level: 'client-authentication' }, 'All configured authentication methods failed'), /SSH authentication failed \(check SSH_KEY_PATH/],
    [err({ statusCode: 500, json: { message: 'driver failed' } }), /answered 500: driver failed/],
  ])('%s', (e, re) => {
    expect(explainDockerError(e, sock, 'piha')).toMatch(re);
    expect(explainDockerError(e, sock, 'piha')).toContain("piha's Docker Engine at unix:///var/run/docker.sock");
  });
});

describe('explainDockerError over SSH', () => {
  it('a reset does not claim an operation was under way: sshd may have refused before the handshake', () => {
    const ssh = { url: 'ssh://root@10.0.0.7:22' };
    const text = explainDockerError(err({ code: 'ECONNRESET', level: 'client-socket' }), ssh, 'pi');
    expect(text).toMatch(/^pi's Docker Engine at ssh:\/\/root@10\.0\.0\.7:22 reset the connection \(ECONNRESET\): the SSH server hung up \(before the handshake: is sshd running on that port/);
    expect(text).toMatch(/if an operation was under way, check the containers' state there/);
    expect(text).not.toMatch(/in the middle of the operation/);
  });
});

describe('engineFor', () => {
  it('builds clients for socket, tcp and ssh targets', () => {
    expect(describeTarget({})).toBe('unix:///var/run/docker.sock');
    expect(engineFor({ socket: '/x.sock' }).modem.socketPath).toBe('/x.sock');
    const tcp = engineFor({ url: 'tcp://10.0.0.5:2375' }).modem;
    expect([tcp.host, tcp.port, tcp.protocol]).toEqual(['10.0.0.5', 2375, 'http']);
    const ssh = engineFor({ url: 'ssh://homelab@100.64.0.7:2222' }).modem;
    expect([ssh.host, ssh.port, ssh.protocol, ssh.username]).toEqual(['100.64.0.7', 2222, 'ssh', 'homelab']);
  });
});
