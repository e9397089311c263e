// The agent's push to an https control plane verifies the server: a certificate from a private
// CA is refused, with a sentence naming NODE_EXTRA_CA_CERTS, until that CA is given to the agent.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, removeDir, tempDir, writeHosts } from '../support/helpers.js';
import { makeCa, makeCert } from '../support/transport.js';

let root: string;
let server: https.Server;
let url: string;
let ca: string;
let elsewhereUrl: string;
let elsewhere: https.Server;
const received: unknown[] = [];

function listen(cert: { cert: string; key: string }): Promise<https.Server> {
  const s = https.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      received.push(...JSON.parse(body));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":1}');
    });
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

beforeAll(async () => {
  root = await tempDir('hcp-push-tls-');
  const authority = makeCa(root, 'ca');
  ca = authority.cert;
  server = await listen(makeCert(root, 'server', authority, 'subjectAltName=IP:127.0.0.1'));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/ingest/events`;
  elsewhere = await listen(makeCert(root, 'elsewhere', authority, 'subjectAltName=DNS:cp.elsewhere.example'));
  elsewhereUrl = `https://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/ingest/events`;
  await writeHosts(path.join(root, 'hosts'), { n1: 'services:\n  a: {}\n' });
});
afterAll(async () => {
  server?.close();
  elsewhere?.close();
  await removeDir(root);
});

/** The agent in its own process (not spawnSync: the servers answer from this one's event loop). */
function agentOnce(pushUrl: string, extraCa?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, 'agent', '--node', 'n1', '--once', '--docker-socket', path.join(root, 'no-engine.sock'), '--push', pushUrl, '--token', 't0ken-for-n1-0123456789', '--state-dir', path.join(root, 'agent')], {
    env: { PATH: process.env.PATH, HOSTS_DIR: path.join(root, 'hosts'), HOMELAB_ROOT: path.join(root, 'homelab'), LOG_LEVEL: 'error', ...(extraCa ? { NODE_EXTRA_CA_CERTS: extraCa } : {}) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

describe('agent push over https', () => {
  it('refuses a server its CAs do not vouch for (events kept), then delivers them once NODE_EXTRA_CA_CERTS names the CA', async () => {
    const refused = await agentOnce(url);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/wait in the spool: the control plane at https:\/\/127\.0\.0\.1:\d+\/ingest\/events's TLS certificate is not signed by a CA this side trusts \(\w+\): give the agent the CA that signed it with NODE_EXTRA_CA_CERTS/);
    expect(received).toEqual([]);

    const misnamed = await agentOnce(elsewhereUrl, ca);
    expect(misnamed.status).toBe(1);
    expect(misnamed.stderr).toMatch(/TLS certificate is for another name/);
    expect(received).toEqual([]);

    const ok = await agentOnce(url, ca);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/event\(s\) pushed/);
    // The heartbeat of the first run waited in the spool and arrives with the later ones, once each.
    const seqs = received.map((e) => (e as { seq: number }).seq);
    expect(seqs.length).toBeGreaterThan(0);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(received.every((e) => (e as { node: string }).node === 'n1')).toBe(true);
  });
});
