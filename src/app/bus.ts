// The signals parts of the control plane send each other, typed, instead of late-bound callbacks
// (ARCHITECTURE.md). A signal says that something changed; a listener re-reads what it needs
// (every consumer is level-triggered), so signals carry no state and may be coalesced.

export interface Signals {
  /** An action file was written or moved (by anyone: supervisor, executor, CLI, mv, a button). */
  actionsChanged: [];
  /** An action was approved by hand (a file moved into approved/ and adopted). */
  approvedByHand: [];
  /** The observer published new world files. */
  worldPublished: [];
  /** hosts/ changed and desired state was reloaded. */
  desiredChanged: [];
  /** Something under events/ changed (a watcher's hint). */
  eventsWritten: [];
  /** Something under hosts/ changed (a watcher's hint). */
  hostsTouched: [];
  /** A file appeared in actions/<state>/ (a watcher's hint). */
  actionFileAdded: [state: string];
  /** An update check wrote world/updates.json, or a digest was skipped (here or by the CLI). */
  updatesChanged: [];
  /** Retention ran: it measured the data and may have removed old days and finished actions. */
  retentionPassed: [];
}

type Listener<K extends keyof Signals> = (...args: Signals[K]) => void;

export class Bus {
  private readonly listeners = new Map<keyof Signals, Set<Listener<keyof Signals>>>();

  /** Calls `fn` on every `signal`; returns a function that stops it. */
  on<K extends keyof Signals>(signal: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(signal);
    if (!set) this.listeners.set(signal, (set = new Set()));
    set.add(fn as Listener<keyof Signals>);
    return () => set!.delete(fn as Listener<keyof Signals>);
  }

  emit<K extends keyof Signals>(signal: K, ...args: Signals[K]): void {
    for (const fn of this.listeners.get(signal) ?? []) (fn as Listener<K>)(...args);
  }
}
