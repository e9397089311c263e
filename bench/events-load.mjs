// Writes node agents' events at a fixed rate, as its own process (the control plane under test
// does not share its CPU queue with the load). Every 100 ms: RATE/10 service events spread over
// NODES × SERVICES, then one heartbeat of the node `load-clock` whose time the parent watches for
// in the world (append → world lag). Prints one JSON line per tick: { ts, at } (at: epoch ms).
// Usage: node bench/events-load.mjs EVENTS_DIR RATE SECONDS NODES SERVICES
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

const [root, rateText, secondsText, nodesText, servicesText] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const nodes = Number(nodesText);
const services = Number(servicesText);
const epoch = () => performance.timeOrigin + performance.now();
const dir = path.join(root, new Date().toISOString().slice(0, 10));
await mkdir(dir, { recursive: true });
const t0 = performance.now();
let sent = 0;
for (let tick = 0; tick < seconds * 10; tick++) {
  const wait = t0 + tick * 100 - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const perNode = new Map();
  for (let k = 0; k < rate / 10; k++) {
    const i = sent++;
    const node = `load-${i % nodes}`;
    const service = `svc-${Math.floor(i / nodes) % services}`;
    const line = `${JSON.stringify({ ts: new Date().toISOString(), node, type: i % 50 === 0 ? 'healthcheck_failed' : 'service_healthy', service })}\n`;
    perNode.set(node, (perNode.get(node) ?? '') + line);
  }
  await Promise.all([...perNode].map(([node, text]) => appendFile(path.join(dir, `${node}.jsonl`), text)));
  const ts = new Date().toISOString();
  const at = epoch();
  await appendFile(path.join(dir, 'load-clock.jsonl'), `${JSON.stringify({ ts, node: 'load-clock', type: 'node_heartbeat' })}\n`);
  process.stdout.write(`${JSON.stringify({ ts, at })}\n`);
}
process.stdout.write(`${JSON.stringify({ done: true, sent })}\n`);
