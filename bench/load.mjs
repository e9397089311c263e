// An open-loop load generator, run as its own process so that its work never shares a CPU queue
// with the server it measures: requests leave at a fixed rate whatever the answers do, and each
// latency is measured from when its request was due (not when it left), so a server that falls
// behind shows it (no coordinated omission).
// Usage: node bench/load.mjs URL RATE SECONDS [HEADER=VALUE ...] → one JSON line on stdout.
// `if-none-match=auto` sends the newest ETag seen so far, as a polling client does.
import http from 'node:http';

const [url, rateText, secondsText, ...headerArgs] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const headers = Object.fromEntries(headerArgs.map((h) => [h.slice(0, h.indexOf('=')), h.slice(h.indexOf('=') + 1)]));
const autoEtag = headers['if-none-match'] === 'auto';
if (autoEtag) delete headers['if-none-match'];
let etag;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const total = Math.round(rate * seconds);
const latencies = [];
let errors = 0;
let bytes = 0;
const statuses = {};

function one(due) {
  // From when it was due, or when it left if that was a little earlier (no negative latencies).
  const from = Math.min(due, performance.now());
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers: autoEtag && etag ? { ...headers, 'if-none-match': etag } : headers }, (res) => {
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      if (res.headers.etag) etag = res.headers.etag;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => {
        latencies.push(performance.now() - from);
        resolve();
      });
    });
    req.on('error', () => {
      errors++;
      resolve();
    });
  });
}

const start = performance.now() + 50;
const inflight = [];
for (let k = 0; k < total; k++) {
  const due = start + (k * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  inflight.push(one(due));
}
await Promise.all(inflight);
agent.destroy();
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] * 100) / 100 : null);
process.stdout.write(`${JSON.stringify({ url, rate, seconds, requests: total, answered: latencies.length, errors, statuses, bytes, p50: pct(50), p95: pct(95), p99: pct(99), max: pct(100) })}\n`);
