// `control-plane agent`: the node agent (its settings from flags and AGENT_* variables).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAgentConfig } from '../config.js';
import { createLogger } from '../log.js';
import { Agent } from '../agent/agent.js';
import { httpSender, LocalSink, natsSender, PushSink } from '../agent/sinks.js';
import { engineFor } from '../docker/engine.js';
import type { DesiredNode } from '../domain/schemas.js';
import { parseDesiredText } from '../store/desired.js';
import { parse, untilSignal } from './args.js';
import { config } from './context.js';
import { help } from './help.js';

export async function cmdAgent(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parse('agent', argv, {
    node: { type: 'string' },
    services: { type: 'string' },
    'events-dir': { type: 'string' },
    push: { type: 'string' },
    token: { type: 'string' },
    interval: { type: 'string' },
    'disk-paths': { type: 'string' },
    'docker-socket': { type: 'string' },
    'state-dir': { type: 'string' },
    once: { type: 'boolean' },
  });
  if (values.help) return help('agent');
  const cfg = config(env);
  const flag = (k: string) => values[k] as string | undefined;
  const a = loadAgentConfig(cfg, env, {
    node: flag('node'),
    services: flag('services'),
    eventsDir: flag('events-dir'),
    push: flag('push'),
    token: flag('token'),
    interval: flag('interval'),
    diskPaths: flag('disk-paths'),
    dockerSocket: flag('docker-socket'),
    stateDir: flag('state-dir'),
  });
  const { node, servicesFile, intervalMs, diskPaths, stateDir } = a;
  const log = createLogger(cfg.logLevel).child({ component: 'agent', node });

  // services.yaml is read at every pass; a broken edit keeps the last good version.
  let lastGood: DesiredNode | undefined;
  const readServices = (): DesiredNode => {
    try {
      const r = parseDesiredText(node, servicesFile, readFileSync(servicesFile, 'utf8'));
      if (r.ok) lastGood = r.value;
      else if (lastGood) log.warn({ problems: r.problems }, 'services file invalid; keeping the last good version');
      else throw new Error(r.problems.map((p) => `${p.file}:${p.line}: ${p.reason}`).join('; '));
    } catch (err) {
      if (!lastGood) throw err;
    }
    return lastGood!;
  };
  readServices();
  const docker = engineFor({ socket: a.dockerSocket });
  const sender = a.push ? httpSender(a.push.url, a.push.token) : a.nats ? natsSender(a.nats, `agent ${node}`) : undefined;
  const sink = sender ? new PushSink(sender, path.join(stateDir, 'spool'), log) : new LocalSink(a.eventsDir, node);
  const agent = new Agent({ node, desired: readServices, docker, sink, stateDir, log, intervalMs, diskPaths, once: values.once === true });
  await agent.init();
  if (values.once) {
    await agent.pass();
    const waiting = sink instanceof PushSink ? (await sink.spooled()).length : 0;
    if (waiting > 0) {
      process.stderr.write(`agent ${node}: ${waiting} event(s) wait in the spool: ${(sink as PushSink).lastError ?? 'not pushed yet'}\n`);
      await (sink as PushSink).stop();
      return 1;
    }
    if (sink instanceof PushSink) await sink.stop();
    process.stdout.write(`agent ${node}: ${agent.stats.emitted} event(s) ${a.push ? 'pushed' : a.nats ? 'published to NATS' : 'written'}\n`);
    return 0;
  }
  await agent.start();
  const output = sender?.target ?? a.eventsDir;
  log.info({ services: servicesFile, output, intervalMs, instance: agent.instance }, `agent for ${node} running (instance ${agent.instance}), its events to ${output}`);
  await untilSignal();
  await agent.stop();
  if (sink instanceof PushSink) await sink.stop();
  return 0;
}
