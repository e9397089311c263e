// The agent's own state file (AGENT_STATE_DIR/agent-state.json): its seq counter and what it last
// reported per service and disk, so that a restart reports only what changed. Read back through
// its schema: a file that fails it is said and the agent starts afresh (a seq never goes back: it
// is kept at least the clock in µs).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { readChecked, writeJsonAtomic } from './atomic.js';

export const SERVICE_VERDICTS = ['healthy', 'containers_not_running', 'healthcheck_failed', 'container_restarting', 'starting'] as const;
export type ServiceVerdict = (typeof SERVICE_VERDICTS)[number];

const AgentStateSchema = z.object({
  version: z.literal(1),
  seq: z.number(),
  services: z.record(z.string(), z.enum(SERVICE_VERDICTS)),
  /** Per service, which containers (id and start time) the verdict was reported for. */
  instances: z.record(z.string(), z.string()).optional(),
  /** Per service, the links (agent/links.ts) last reported, as JSON. */
  links: z.record(z.string(), z.string()).optional(),
  disk: z.record(z.string(), z.enum(['high', 'normal'])),
});
export type AgentState = z.infer<typeof AgentStateSchema>;

/** The state the agent left, if any; makes its directory (AGENT_STATE_DIR) when there is none yet. */
export async function readAgentState(file: string, log: Logger): Promise<AgentState | undefined> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const r = await readChecked(file, AgentStateSchema);
  if (r.ok) return r.value;
  if (r.why === 'unreadable') log.warn({ err: r.err, file }, 'the agent state file is unreadable; starting afresh');
  if (r.why === 'invalid') log.warn({ file, problem: r.problem }, 'the agent state file is not what this version writes; starting afresh');
  return undefined;
}

export function writeAgentState(file: string, state: AgentState): Promise<void> {
  return writeJsonAtomic(file, state);
}
