// P publishers in one process of their own, as P agents would be: each its own NATS connection,
// publishing its node's events to JetStream one after another, each awaiting the stream's
// acknowledgement (as the agent's sender does). Prints the publish time as JSON.
// Usage: node nats-publishers.mjs <nats url> <publishers> <events in all>
import { connect } from 'nats';

const [url, p, e] = process.argv.slice(2);
const P = Number(p);
const E = Number(e);
const conns = await Promise.all(Array.from({ length: P }, () => connect({ servers: url })));
const t = performance.now();
await Promise.all(
  conns.map(async (nc, i) => {
    const js = nc.jetstream();
    const node = `n${i}`;
    for (let seq = 1; seq <= Math.ceil(E / P); seq++) {
      const ev = { ts: new Date().toISOString(), node, type: 'node_heartbeat', agent: 'bench', seq };
      await js.publish(`homelab.events.${node}`, JSON.stringify(ev), { msgID: `${node}:bench:${seq}` });
    }
  }),
);
const ms = performance.now() - t;
await Promise.all(conns.map((nc) => nc.close()));
console.log(JSON.stringify({ publishers: P, events: Math.ceil(E / P) * P, publish_ms: Math.round(ms) }));
