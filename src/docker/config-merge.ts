// Which settings of a container came from its image and which the operator gave it
// (docs/design/executor.md, "Recreating a container"). A recreate keeps what the operator gave
// and takes everything else from the image the new container is created from, the way
// `docker compose up` and Watchtower do: a setting equal to the old image's default came from the
// image and follows the image; a setting that differs from it was given and is kept.

/** The settings of a container's or an image's `Config` that an image provides defaults for. */
export interface ImageDefaults {
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Env?: string[] | null;
  Labels?: Record<string, string> | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
  StopSignal?: string;
  Shell?: string[] | null;
  Healthcheck?: unknown;
}

/** A container's `Config`: the image's settings and the container's own (Hostname, Tty, Image, …). */
export type ContainerConfig = ImageDefaults & Record<string, unknown>;

/** Deep equality of the JSON values an engine returns (null, undefined and empty are one "unset"). */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(normal(a)) === JSON.stringify(normal(b));
}

function normal(v: unknown): unknown {
  if (v === null || v === undefined || v === '') return null;
  if (Array.isArray(v)) return v.length === 0 ? null : v.map(normal);
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    if (keys.length === 0) return null;
    return Object.fromEntries(keys.map((k) => [k, normal((v as Record<string, unknown>)[k])]));
  }
  return v;
}

const envKey = (entry: string): string => {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
};

/** Entries the operator gave (not the old image's exact `KEY=value`), then the new image's other keys. */
function mergeEnv(container: readonly string[] | null | undefined, oldImage: readonly string[] | null | undefined, newImage: readonly string[] | null | undefined): string[] {
  const fromOld = new Set(oldImage ?? []);
  const given = (container ?? []).filter((e) => !fromOld.has(e));
  const keys = new Set(given.map(envKey));
  return [...given, ...(newImage ?? []).filter((e) => !keys.has(envKey(e)))];
}

/** Keys whose value the operator gave (absent from the old image, or another value), over the new image's. */
function mergeMap<T>(container: Record<string, T> | null | undefined, oldImage: Record<string, T> | null | undefined, newImage: Record<string, T> | null | undefined): Record<string, T> {
  const out: Record<string, T> = { ...(newImage ?? {}) };
  for (const [k, v] of Object.entries(container ?? {})) {
    if (oldImage && k in oldImage && same(oldImage[k], v)) continue;
    out[k] = v;
  }
  return out;
}

/** A scalar or list setting: the new image's when the container's equals the old image's. */
function pick<T>(container: T, oldImage: T, newImage: T): T {
  return same(container, oldImage) ? newImage : container;
}

/**
 * The configuration for a container created from `newImage` in place of one that ran with
 * `container` on `oldImage`. With the same image on both sides the result equals `container` in
 * every setting an image provides (a redeploy changes nothing).
 *
 * Command and entrypoint go together, as Docker's own create does: an entrypoint the operator gave
 * keeps the command as it is (an entrypoint given without a command has none); an entrypoint from
 * the image follows the new image, and the command does too unless the operator gave one.
 */
export function mergeImageConfig<C extends ContainerConfig>(container: C, oldImage: ImageDefaults, newImage: ImageDefaults): C {
  const entrypointGiven = !same(container.Entrypoint, oldImage.Entrypoint);
  const cmdGiven = entrypointGiven || !same(container.Cmd, oldImage.Cmd);
  const merged: C = {
    ...container,
    Entrypoint: entrypointGiven ? container.Entrypoint : (newImage.Entrypoint ?? null),
    Cmd: cmdGiven ? container.Cmd : (newImage.Cmd ?? null),
    Env: mergeEnv(container.Env, oldImage.Env, newImage.Env),
    Labels: mergeMap(container.Labels, oldImage.Labels, newImage.Labels),
    ExposedPorts: mergeMap(container.ExposedPorts, oldImage.ExposedPorts, newImage.ExposedPorts),
    Volumes: mergeMap(container.Volumes, oldImage.Volumes, newImage.Volumes),
    WorkingDir: pick(container.WorkingDir, oldImage.WorkingDir, newImage.WorkingDir) ?? '',
    User: pick(container.User, oldImage.User, newImage.User) ?? '',
  };
  setOrDrop(merged, 'StopSignal', pick(container.StopSignal, oldImage.StopSignal, newImage.StopSignal));
  setOrDrop(merged, 'Shell', pick(container.Shell, oldImage.Shell, newImage.Shell));
  setOrDrop(merged, 'Healthcheck', pick(container.Healthcheck, oldImage.Healthcheck, newImage.Healthcheck));
  return merged;
}

function setOrDrop(c: ContainerConfig, key: 'StopSignal' | 'Shell' | 'Healthcheck', value: unknown): void {
  if (value === undefined || value === null || value === '') delete c[key];
  else (c as Record<string, unknown>)[key] = value;
}

/** What differs between two configurations in the settings an image provides, for a step line. */
export function imageSettingsChanged(before: ImageDefaults, after: ImageDefaults): string[] {
  const keys = ['Cmd', 'Entrypoint', 'Env', 'Labels', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'StopSignal', 'Shell', 'Healthcheck'] as const;
  return keys.filter((k) => !same(before[k], after[k]));
}
