// The one redaction function: what leaves an engine (container logs, health-check output) and
// what goes into a log line passes through it, so a secret a container prints never reaches an
// action file, the chat, the page or an AI export (docs/operator/security.md).

const R = '<redacted>';

const RULES: [RegExp, string][] = [
  // Telegram bot tokens: 123456789:AA… (35 characters after the colon).
  [/\b\d{5,}:[A-Za-z0-9_-]{30,}/g, R],
  // Authorization headers, whatever their scheme: keep the header name.
  [/\b((?:proxy-)?authorization\s*[:=]\s*)(?:(?:bearer|basic|token|digest)\s+)?("[^"]*"|'[^']*'|[^\s,;]+)/gi, `$1${R}`],
  // A bearer token anywhere else.
  [/\b(bearer\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${R}`],
  // key=value and key: value for the usual secret names (also in JSON: "password": "…").
  [/(\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)"?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&,;"']+)/gi, `$1${R}`],
  // URLs with user:password@.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${R}@`],
];

export function redact(text: string): string {
  let out = text;
  for (const [re, to] of RULES) out = out.replace(re, to);
  return out;
}
