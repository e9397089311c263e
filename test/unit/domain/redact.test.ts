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
