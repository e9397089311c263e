// GET a URL N times, one request at a time (as curl or a Home Assistant sensor asks), from a
// process of its own so that the client's buffers are not counted as the server's memory.
// Usage: node bench/timed-get.mjs URL N → one JSON line: the latencies in ms, sorted.
const [url, nText] = process.argv.slice(2);
// Three first requests not counted: the client's own start (its first connection, its code
// compiled) is not the server's answer.
for (let i = 0; i < 3; i++) await (await fetch(url)).arrayBuffer();
const xs = [];
for (let i = 0; i < Number(nText); i++) {
  const t = performance.now();
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  await res.arrayBuffer();
  xs.push(performance.now() - t);
}
console.log(JSON.stringify(xs.sort((a, b) => a - b)));
