// `control-plane hosts trust`: pin a node's SSH host key after the operator compared it.
import { describeTarget, sshTarget } from '../docker/engine.js';
import { addHostKey, fetchHostKey, knownHostsVerdict } from '../docker/host-trust.js';
import { UsageError, parse, confirm } from './args.js';
import { config, desiredNow } from './context.js';
import { HELP, help } from './help.js';

export async function cmdHosts(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sub = argv[0] && !argv[0].startsWith('-') ? argv[0] : undefined;
  const { values, positionals } = parse(sub ? `hosts ${sub}` : 'hosts', argv.slice(sub ? 1 : 0), { yes: { type: 'boolean' } });
  if (values.help || !sub) return help(sub ? `hosts ${sub}` : 'hosts');
  if (sub !== 'trust') throw new UsageError(`unknown hosts command ${JSON.stringify(sub)}\n\n${HELP.hosts}`);
  const node = positionals[0];
  if (!node || positionals.length > 1) throw new UsageError(HELP.hosts!);
  const cfg = config(env);
  const desired = await desiredNow(env, cfg);
  const target = desired[node]?.docker;
  if (!target) throw new UsageError(`no node ${JSON.stringify(node)} in ${cfg.hostsDir}${Object.keys(desired).length ? ` (nodes: ${Object.keys(desired).sort().join(', ')})` : ''}`);
  const url = target.url;
  if (!url?.startsWith('ssh://')) throw new UsageError(`${node} is not reached over SSH (its docker: target is ${describeTarget(target)}); only ssh:// targets have host keys`);
  const { host, port } = sshTarget(url);
  const file = cfg.ssh.knownHosts;
  const key = await fetchHostKey(host, port);
  process.stdout.write(`${node}: ${url} presents the ${key.type} key ${key.fingerprint}\n`);
  const verdict = await knownHostsVerdict(file, host, port, key);
  if (verdict.ok) {
    process.stdout.write(`already trusted (${file}, line ${verdict.line})\n`);
    return 0;
  }
  if (verdict.kind !== 'unknown') {
    const why = verdict.kind === 'revoked' ? `that key is marked @revoked (line ${verdict.line})` : `${file} lists ${verdict.listed.fingerprint} for it (line ${verdict.line}): the key CHANGED. The node was reinstalled, or something else answers at that address. Check on the node; if the new key is right, remove line ${verdict.line} by hand and run this again`;
    process.stderr.write(`not added: ${why}\n`);
    return 1;
  }
  if (!values.yes) {
    if (!process.stdin.isTTY) throw new UsageError('not added: confirm on a terminal, or pass --yes after checking the fingerprint');
    if (!(await confirm(`Compare it with the node's own (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub there). Trust it?`))) {
      process.stderr.write('not added\n');
      return 1;
    }
  }
  await addHostKey(file, host, port, key);
  process.stdout.write(`added to ${file}; ${node}'s engine is reached from now on\n`);
  return 0;
}
