// The agent's state file read back through its schema: what was written comes back; a file that is
// not JSON or not this version's is said and the agent starts afresh.
import { writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAgentState, writeAgentState } from '../../../src/store/agent-state.js';
import { memoryLogger, removeDir, tempDir } from '../../support/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await tempDir('hcp-agent-state-');
});
afterEach(() => removeDir(dir));

describe('agent state file', () => {
  it('round-trips; none is undefined without a word; a bad one is said and ignored', async () => {
    const mem = memoryLogger();
    const file = `${dir}/agent-state.json`;
    expect(await readAgentState(file, mem.log)).toBeUndefined();
    const state = { version: 1 as const, seq: 1_780_000_000_000_000, services: { webui: 'healthy' as const }, instances: { webui: 'abc@2026' }, disk: { '/': 'normal' as const } };
    await writeAgentState(file, state);
    expect(await readAgentState(file, mem.log)).toEqual(state);
    expect(mem.lines).toEqual([]);
    await writeFile(file, '{"version":1,');
    expect(await readAgentState(file, mem.log)).toBeUndefined();
    await writeFile(file, JSON.stringify({ ...state, services: { webui: 'sideways' } }));
    expect(await readAgentState(file, mem.log)).toBeUndefined();
    expect(mem.lines.map((l) => String(l.msg))).toEqual(['the agent state file is unreadable; starting afresh', 'the agent state file is not what this version writes; starting afresh']);
  });
});
