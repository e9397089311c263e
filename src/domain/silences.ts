// Silences: an operator's "not now" for a node or a service (`control-plane silence`, /silence);
// while one runs, nothing is proposed for its target.

export interface Silence {
  id: string;
  /** `node` or `node/service`. */
  target: string;
  until: string;
  reason?: string;
  created_at: string;
  by?: string;
  /** Made from a message's 💤 button: which message, and whether it ends when the service recovers. */
  snooze?: { message: string; recover: boolean };
}

/** The silence in force for this node or service now, if any (a node's covers its services). */
export function silenced(silences: readonly Silence[], node: string, service: string | null, now: number): Silence | undefined {
  return silences.find((s) => Date.parse(s.until) > now && (s.target === node || (service !== null && s.target === `${node}/${service}`)));
}
