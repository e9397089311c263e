// Reading the world files back as the web page and /ai-context show them. What is on disk is
// shown as it is, escaped by the page (a hand-edited or mirrored file may hold anything); a file
// that does not parse is shown as empty.
import type { WorldNode, WorldService } from '../domain/schemas.js';
import { readRegularFile } from './atomic.js';
import type { Layout } from './paths.js';

export async function readWorldFiles(l: Layout): Promise<{ services: Record<string, WorldService>; nodes: Record<string, WorldNode> }> {
  const read = async (f: string): Promise<Record<string, never>> => {
    try {
      const v: unknown = JSON.parse(((await readRegularFile(f)) ?? Buffer.from('{}')).toString('utf8'));
      return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, never>) : {};
    } catch {
      return {};
    }
  };
  return { services: await read(l.worldServices), nodes: await read(l.worldNodes) };
}
