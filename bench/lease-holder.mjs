// A control plane's leader lease alone, in a process of its own, for the failover bench: takes the
// lease (LEASE_TTL_S = <ttl>) and says "leading <epoch>" once it holds it; killed with SIGKILL by
// the bench. Usage: node lease-holder.mjs <dist> <nats url> <ttl s>
import path from 'node:path';
import { connect } from 'nats';

const [dist, url, ttl] = process.argv.slice(2);
const { Lease } = await import(path.join(dist, 'nats', 'lease.js'));
const { realClock } = await import(path.join(dist, 'time', 'clock.js'));
const { createLogger } = await import(path.join(dist, 'log.js'));
const nc = await connect({ servers: url });
const lease = new Lease({ id: 'killed', ttlS: Number(ttl), clock: realClock, log: createLogger('silent'), onLost: () => process.exit(1) });
lease.onGained(() => process.stdout.write(`leading ${lease.epoch}\n`));
lease.begin(nc);
