// Read-only evidence for a proposed action: each named container's state, exit code, OOM kill,
// restarts, health (with the last check's output) and image, and the tail of its logs. Only
// inspect and logs calls, only for the containers services.yaml names; every text that leaves
// the engine is decoded as UTF-8 (invalid bytes replaced), stripped of ANSI codes and redacted.
import type Docker from 'dockerode';
import stripAnsi from 'strip-ansi';
import { redact, redactLines } from '../domain/redact.js';

/** The most log lines one read asks for (/logs, `control-plane logs`, LOG_TAIL_LINES). */
export const MAX_LOG_LINES = 200;
/** Logs kept per container, at most (the newest lines win). */
export const LOG_CAP_BYTES = 8 * 1024;
/** Docker's `timestamps: true` prefix (RFC 3339 with nanoseconds, UTC). */
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z /;
/** RFC 3339 trims trailing zeros of the fraction: pad it, so times compare as strings. */
function sortableTime(t: string): string {
  const dot = t.indexOf('.');
  return dot < 0 ? `${t.slice(0, -1)}.000000000` : `${t.slice(0, dot)}.${t.slice(dot + 1, -1).padEnd(9, '0')}`;
}
/** A health check's output, at most. */
const HEALTH_OUTPUT_CHARS = 300;

export interface ContainerEvidence {
  name: string;
  state: string;
  exit_code: number | null;
  oom_killed: boolean;
  restart_count: number;
  started_at: string | null;
  finished_at: string | null;
  health: { status: string; failing_streak: number; last_output: string | null } | null;
  image: string | null;
  image_id: string | null;
  /** The last lines of stdout and stderr, oldest first, each with its timestamp. */
  logs: string[];
  /** True when older lines were left out to keep under LOG_CAP_BYTES. */
  logs_truncated: boolean;
}

/**
 * Docker's log stream for a container without a TTY is multiplexed: frames of an 8-byte header
 * (stream type, 3 zero bytes, big-endian length) and a payload. With a TTY it is raw.
 */
export function demux(buf: Buffer, tty: boolean): Buffer {
  if (tty) return buf;
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i]!;
    const size = buf.readUInt32BE(i + 4);
    if (type > 2 || buf[i + 1] !== 0 || buf[i + 2] !== 0 || buf[i + 3] !== 0) return buf; // not framed after all
    parts.push(buf.subarray(i + 8, Math.min(buf.length, i + 8 + size)));
    i += 8 + size;
  }
  return Buffer.concat(parts);
}

/**
 * Bytes → the last `lines` lines: UTF-8 (invalid bytes replaced), no ANSI codes, redacted, capped.
 * Lines that start with Docker's timestamp are put in time order (stdout and stderr arrive as
 * separate frames, not always in the order they were written).
 */
export function tidyLogs(raw: Buffer, lines: number, capBytes = LOG_CAP_BYTES): { logs: string[]; truncated: boolean } {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(raw);
  let all = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (all.every((l) => TIMESTAMP.test(l))) all = all.map((l, i) => ({ l, i, t: sortableTime(l.slice(0, l.indexOf(' '))) })).sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.i - b.i)).map((x) => x.l);
  // A private key printed over several lines is removed whole (redactLines).
  all = redactLines(all.slice(-lines).map((l) => stripAnsi(l)));
  const out: string[] = [];
  let bytes = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    const n = Buffer.byteLength(all[i]!) + 1;
    if (bytes + n > capBytes) return { logs: out.reverse(), truncated: true };
    bytes += n;
    out.push(all[i]!);
  }
  return { logs: out.reverse(), truncated: false };
}

function healthOf(info: Docker.ContainerInspectInfo): ContainerEvidence['health'] {
  const h = info.State.Health as { Status: string; FailingStreak: number; Log?: { Output?: string }[] } | undefined;
  if (!h) return null;
  const last = h.Log?.at(-1)?.Output;
  const output = last === undefined ? null : redact(stripAnsi(last)).trim().slice(0, HEALTH_OUTPUT_CHARS);
  return { status: h.Status, failing_streak: h.FailingStreak ?? 0, last_output: output };
}

/** One container's evidence; a container that does not exist is `missing`, not an error. */
export async function inspectContainer(docker: Docker, name: string, tailLines: number): Promise<ContainerEvidence> {
  const c = docker.getContainer(name);
  let info: Docker.ContainerInspectInfo;
  try {
    info = await c.inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) {
      return { name, state: 'missing', exit_code: null, oom_killed: false, restart_count: 0, started_at: null, finished_at: null, health: null, image: null, image_id: null, logs: [], logs_truncated: false };
    }
    throw err;
  }
  const raw = (await c.logs({ stdout: true, stderr: true, timestamps: true, tail: tailLines, follow: false })) as unknown as Buffer;
  const { logs, truncated } = tidyLogs(demux(Buffer.from(raw), info.Config.Tty === true), tailLines);
  const s = info.State;
  const zeroTime = (t: string | undefined) => (!t || t.startsWith('0001-') ? null : t);
  return {
    name,
    state: s.Restarting ? 'restarting' : s.Status,
    exit_code: s.Running ? null : s.ExitCode,
    oom_killed: s.OOMKilled === true,
    restart_count: info.RestartCount ?? 0,
    started_at: zeroTime(s.StartedAt),
    finished_at: zeroTime(s.FinishedAt),
    health: healthOf(info),
    image: info.Config.Image ?? null,
    image_id: info.Image ?? null,
    logs,
    logs_truncated: truncated,
  };
}

/** What a prune would reclaim, from `docker system df`: unused images, stopped containers, unused build cache. */
export async function reclaimable(docker: Docker): Promise<{ containers_bytes: number; images_bytes: number; build_cache_bytes: number }> {
  const df = (await docker.df()) as {
    Images?: { Containers?: number; Size?: number; SharedSize?: number }[];
    Containers?: { State?: string; SizeRw?: number }[];
    BuildCache?: { InUse?: boolean; Shared?: boolean; Size?: number }[];
  };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    images_bytes: sum((df.Images ?? []).filter((i) => (i.Containers ?? 0) === 0).map((i) => Math.max(0, (i.Size ?? 0) - Math.max(0, i.SharedSize ?? 0)))),
    containers_bytes: sum((df.Containers ?? []).filter((c) => c.State !== 'running').map((c) => c.SizeRw ?? 0)),
    build_cache_bytes: sum((df.BuildCache ?? []).filter((b) => !b.InUse && !b.Shared).map((b) => b.Size ?? 0)),
  };
}
