// The one redaction function, on real-looking lines: what must go, and what must stay readable.
import { describe, expect, it } from 'vitest';
import { redact } from '../../../src/domain/redact.js';

const cases: [string, string][] = [
  ['bot started with token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw', 'bot started with token <redacted>'],
  ['GET /api HTTP/1.1 Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc', 'GET /api HTTP/1.1 Authorization: <redacted>'],
  ['authorization=Basic dXNlcjpwYXNz', 'authorization=<redacted>'],
  ['calling upstream with bearer abcdefghijklmnop1234', 'calling upstream with bearer <redacted>'],
  ['db connect password=hunter2 host=db', 'db connect password=<redacted> host=db'],
  ['DB_PASSWORD: "s3cr et"', 'DB_PASSWORD: <redacted>'],
  ['{"api_key":"abc123","user":"x"}', '{"api_key":<redacted>,"user":"x"}'],
  ['?token=abc&page=2', '?token=<redacted>&page=2'],
  ['client_secret=xyz; next', 'client_secret=<redacted>; next'],
  ['mqtt://user:pa55@broker:1883 connected', 'mqtt://<redacted>@broker:1883 connected'],
  ['postgres://app:secret@db/app', 'postgres://<redacted>@db/app'],
];

describe('redact', () => {
  for (const [line, want] of cases) it(line, () => expect(redact(line)).toBe(want));

  it('leaves ordinary lines alone', () => {
    for (const line of ['2026-05-27T14:00:00Z INFO listening on :8080', 'curl: (7) Failed to connect to localhost port 80', 'Killed', 'user=bob logged in from 10.0.0.2', 'https://example.com/path?a=1']) {
      expect(redact(line)).toBe(line);
    }
  });

  it('is idempotent', () => {
    for (const [line] of cases) expect(redact(redact(line))).toBe(redact(line));
  });
});

describe('redact: every usual secret format (property), and nothing else (precision)', async () => {
  const fc = (await import('fast-check')).default;
  const { redactLines } = await import('../../../src/domain/redact.js');
  const chars = (alphabet: string, min: number, max = min) => fc.string({ unit: fc.constantFrom(...alphabet.split('')), minLength: min, maxLength: max });
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const B64URL = `${ALNUM}_-`;
  // Each kind: the secret as it is printed, and the part of it that must never survive.
  const kinds: Record<string, fc.Arbitrary<{ text: string; secret: string }>> = {
    telegram: fc.tuple(chars('0123456789', 8, 10), chars(B64URL, 35)).map(([d, t]) => ({ text: `${d}:AA${t}`, secret: `AA${t}` })),
    telegramInUrl: fc.tuple(chars('0123456789', 8, 10), chars(B64URL, 35)).map(([d, t]) => ({ text: `POST https://api.telegram.org/bot${d}:AA${t}/getMe failed`, secret: `AA${t}` })),
    github: fc.tuple(fc.constantFrom('ghp', 'gho', 'ghu', 'ghs', 'ghr'), chars(ALNUM, 36)).map(([p, t]) => ({ text: `${p}_${t}`, secret: t })),
    githubPat: chars(`${ALNUM}_`, 82).map((t) => ({ text: `github_pat_${t}`, secret: t })),
    gitlab: chars(B64URL, 20).map((t) => ({ text: `glpat-${t}`, secret: t })),
    slack: fc.tuple(fc.constantFrom('xoxb', 'xoxp', 'xoxa'), chars('0123456789', 12), chars(ALNUM, 24)).map(([p, n, t]) => ({ text: `${p}-${n}-${n}-${t}`, secret: t })),
    slackHook: fc.tuple(chars(UPPER, 9), chars(UPPER, 11), chars(ALNUM, 24)).map(([a, b, t]) => ({ text: `https://hooks.slack.com/services/T${a}/B${b}/${t}`, secret: t })),
    npm: chars(ALNUM, 36).map((t) => ({ text: `npm_${t}`, secret: t })),
    openai: fc.tuple(fc.constantFrom('sk-', 'sk-proj-', 'sk-ant-api03-'), chars(ALNUM, 40)).map(([p, t]) => ({ text: `${p}${t}`, secret: t })),
    awsKeyId: chars(UPPER, 16).map((t) => ({ text: `AKIA${t}`, secret: `AKIA${t}` })),
    awsSecret: chars(`${ALNUM}/+`, 40).map((t) => ({ text: `aws_secret_access_key = ${t}`, secret: t })),
    gcpKey: chars(B64URL, 35).map((t) => ({ text: `AIza${t}`, secret: t })),
    jwt: fc.tuple(chars(B64URL, 20, 40), chars(B64URL, 20, 60), chars(B64URL, 43)).map(([h, p, s]) => ({ text: `eyJ${h}.eyJ${p}.${s}`, secret: s })),
    privateKey: fc.tuple(fc.constantFrom('RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ', ''), fc.array(chars(`${ALNUM}+/`, 64), { minLength: 2, maxLength: 6 })).map(([k, body]) => ({ text: `-----BEGIN ${k}PRIVATE KEY-----\n${body.join('\n')}\n-----END ${k}PRIVATE KEY-----`, secret: body[1]! })),
    basicAuthUrl: fc.tuple(fc.constantFrom('https', 'mqtt', 'postgres', 'redis'), chars(ALNUM, 12)).map(([s, p]) => ({ text: `${s}://user:${p}@host.example:1234/x`, secret: p })),
    flag: fc.tuple(fc.constantFrom('--password', '--passwd', '--token', '--secret', '--api-key'), fc.constantFrom(' ', '='), chars(ALNUM, 12, 30)).map(([f, sep, v]) => ({ text: `exec app ${f}${sep}${v} --verbose`, secret: v })),
    envKey: fc.tuple(fc.constantFrom('DB_PASSWORD', 'GITEA_TOKEN', 'APP_SECRET', 'STRIPE_KEY', 'MINIO_ROOT_PASSWORD'), chars(ALNUM, 12, 30)).map(([k, v]) => ({ text: `${k}=${v}`, secret: v })),
  };
  const noise = fc.string({ maxLength: 30 }).map((s) => s.replace(/[\n\r]/g, ' '));
  const ansi = fc.constantFrom('', '\u001b[31m', '\u001b[1;32m', '\u001b[0m');
  // Where a secret stands: a line of text, JSON, a query string, between colour codes.
  const contexts = [
    (s: string, a: string, b: string) => `${a} ${s} ${b}`,
    (s: string) => JSON.stringify({ msg: 'starting', value: s }),
    (s: string, a: string) => `GET /callback?${encodeURIComponent(a)}=1&next=${s} HTTP/1.1`,
    (s: string, _a: string, _b: string, c: string) => `${c}${s}${c ? '\u001b[0m' : ''} done`,
  ];

  for (const [kind, arb] of Object.entries(kinds)) {
    it(`${kind} never survives`, () => {
      fc.assert(
        fc.property(arb, noise, noise, ansi, fc.integer({ min: 0, max: contexts.length - 1 }), ({ text, secret }, a, b, c, i) => {
          // JSON escapes a key's newlines; the other contexts take the text as it is printed.
          const line = contexts[i]!(text, a, b, c);
          const out = redact(line);
          expect(out).not.toContain(secret);
          // Printed over lines (a log tail), it goes too.
          expect(redactLines(line.split('\n')).join('\n')).not.toContain(secret);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('a private key whose first lines fell out of the tail is removed up to its end', () => {
    const out = redactLines(['2026-05-27T14:00:00Z MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC7', '2026-05-27T14:00:00Z -----END PRIVATE KEY-----', '2026-05-27T14:00:01Z ready']);
    expect(out.join('\n')).not.toContain('MIIEvg');
    expect(out.at(-1)).toBe('2026-05-27T14:00:01Z ready');
  });

  it('leaves ordinary lines untouched: hashes, UUIDs, image digests, timestamps, plain settings', () => {
    const ordinary = fc.oneof(
      chars('0123456789abcdef', 40).map((h) => `commit ${h} deployed`),
      fc.uuid().map((u) => `request ${u} finished in 12 ms`),
      chars('0123456789abcdef', 64).map((h) => `pulled registry.example/app@sha256:${h}`),
      fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => `${d.toISOString()} INFO listening on :8080`),
      fc.tuple(fc.constantFrom('user', 'mode', 'level', 'port', 'max_tokens'), chars(ALNUM, 1, 20)).map(([k, v]) => `${k}=${v}`),
      chars(`${ALNUM}+/`, 20, 60).map((b) => `payload ${b}`),
    );
    fc.assert(
      fc.property(ordinary, (line) => {
        expect(redact(line)).toBe(line);
      }),
      { numRuns: 500 },
    );
    // The control plane's own sentences about secrets name them without holding one.
    for (const line of [
      "chelsty-ha: ssh://homelab@100.64.0.8 needs SSH credentials: set SSH_KEY_PATH to a private key file whose public key is in the node's authorized_keys",
      'Telegram rejected the token (401 Unauthorized): get a new one from @BotFather',
      'cannot reach piha: SSH authentication failed (check SSH_KEY_PATH or the SSH agent, and that the user may run docker)',
      'registry 127.0.0.1:5000 wants credentials (basic auth) and DOCKER_CONFIG has none',
    ]) expect(redact(line)).toBe(line);
  });
});
