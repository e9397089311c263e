// The one redaction function: what leaves an engine (container logs, health-check output) and
// what goes into a log line passes through it, so a secret a container prints never reaches an
// action file, the chat, the page or an AI export (docs/operator/security.md).
//
// The formats are those of secretlint's recommended preset (AWS, GCP, GitHub, GitLab, Slack, npm,
// OpenAI-style keys, private keys, basic-auth URLs, JWTs), plus Telegram bot tokens anywhere (URL
// paths included), secret-named flags (`--password value`) and secret-named settings
// (`KEY=value`, `"key": "value"`). Tokens with a distinctive prefix are matched wherever they
// stand; everything else only beside a name that says it is a secret, so hashes, UUIDs, image
// digests and timestamps stay as they are.
import stripAnsi from 'strip-ansi';

const R = '<redacted>';

/** A PEM or OpenSSH private key, removed whole (to the end of the text when its end was cut off). */
const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)/g;
/** The end of a key whose beginning was cut off (a log tail): everything before it goes. */
const PRIVATE_KEY_TAIL = /^[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/;

/** Secret names: a setting or flag with one of these in its name holds a secret. */
const NAMES = 'password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?key';

const RULES: [RegExp, string][] = [
  // Telegram bot tokens: 123456789:AA… (35 characters after the colon), also inside /bot<token>/.
  [/(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}/g, R],
  // GitHub: classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained tokens.
  [/gh[pousr]_[A-Za-z0-9]{30,255}/g, R],
  [/github_pat_[A-Za-z0-9_]{22,255}/g, R],
  // GitLab personal, deploy, runner, feed, … tokens.
  [/gl(?:pat|dt|rt|ft|ptt|oas|cbt|imt|agent)-[A-Za-z0-9_-]{20,}/g, R],
  // Slack tokens and incoming webhooks.
  [/xox[abposr]-[A-Za-z0-9-]{10,}/g, R],
  [/https:\/\/hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9/_-]+/g, R],
  // npm access tokens.
  [/npm_[A-Za-z0-9]{36}/g, R],
  // OpenAI-style secret keys (sk-…, sk-proj-…, sk-ant-…).
  [/(?<![A-Za-z0-9])sk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{20,}/g, R],
  // AWS access key ids; their secret keys are caught by name (aws_secret_access_key, SecretAccessKey).
  [/(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])/g, R],
  // Google API keys.
  [/AIza[0-9A-Za-z_-]{35}/g, R],
  // JWTs (header and payload are base64url JSON: they start with eyJ).
  [/eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, R],
  // Authorization headers, whatever their scheme: keep the header name.
  [/\b((?:proxy-)?authorization\s*[:=]\s*)(?:(?:bearer|basic|token|digest)\s+)?("[^"]*"|'[^']*'|[^\s,;]+)/gi, `$1${R}`],
  // A bearer token anywhere else.
  [/\b(bearer\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${R}`],
  // Flags: --password value, --token=value, -p is too short to tell and is left alone.
  [new RegExp(`(--?[\\w-]*(?:${NAMES})(?:\\s+|=))(?!<redacted>)("[^"]*"|'[^']*'|[^\\s"']+)`, 'gi'), `$1${R}`],
  // KEY=value and key: value for secret names (also in JSON: "password": "…"), and env-style *_KEY=.
  [new RegExp(`(\\b[\\w.-]*(?:${NAMES})"?\\s*[=:]\\s*)(?!<redacted>)("[^"]*"|'[^']*'|[^\\s&,;"']+)`, 'gi'), `$1${R}`],
  [/(\b[A-Z][A-Z0-9_]*_KEY"?\s*[=:]\s*)(?!<redacted>)("[^"]*"|'[^']*'|[^\s&,;"']+)/g, `$1${R}`],
  // URLs with user:password@.
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${R}@`],
];

export function redact(text: string): string {
  // Colour codes would hide a token's start from the rules (and are noise in every reader).
  let out = text.includes('\u001b') || text.includes('\u009b') ? stripAnsi(text) : text;
  if (out.includes('PRIVATE KEY')) out = out.replace(PRIVATE_KEY_BLOCK, `${R} private key`).replace(PRIVATE_KEY_TAIL, `${R} private key`);
  for (const [re, to] of RULES) out = out.replace(re, to);
  return out;
}

/**
 * Redacts lines that belong together (a log tail): a private key printed over many lines is
 * removed whole, then every line is redacted on its own.
 */
export function redactLines(lines: readonly string[]): string[] {
  const joined = lines.join('\n');
  if (!joined.includes('PRIVATE KEY')) return lines.map(redact);
  return redact(joined).split('\n');
}
