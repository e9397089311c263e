// The Bot API stand-in in a process of its own (bench/scale-child.mjs): the calls and messages it
// keeps are not the control plane's memory, and its HTTP work not the control plane's CPU. Driven
// over IPC (`fork`): `{ q: 'await', id, ms }` answers once a message naming `id` was sent or edited
// since the last such answer (or `ms` passed); `{ q: 'refusals' }` gives the refusals no one
// caused; `{ q: 'close' }` ends it. Its first message is the server's `{ url }`.
import { chatWatcher } from './chat-calls.mjs';

const [module, token] = process.argv.slice(2);
const api = await new (await import(module)).FakeBotApi(token).start();
let chat = chatWatcher(api);
process.on('message', async (m) => {
  if (m.q === 'await') {
    const end = Date.now() + m.ms;
    while (!chat.named(m.id) && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    process.send({ re: m.re, hit: Date.now() < end });
  } else if (m.q === 'watch') {
    chat = chatWatcher(api);
    process.send({ re: m.re });
  } else if (m.q === 'refusals') {
    process.send({ re: m.re, refusals: api.unexpectedRefusals() });
  } else if (m.q === 'close') {
    await api.close();
    process.send({ re: m.re });
    process.disconnect();
  }
});
process.send({ url: api.url });
