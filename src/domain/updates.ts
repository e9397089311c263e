// Image update checks: what one found per service (world/updates.json) and the digests not to
// propose again (state/update-skips.json). docs/design/updates.md. Pure.
import { z } from 'zod';
import { shortDigest } from './image-ref.js';

export const UpdateStatus = z.enum(['up_to_date', 'image_update_available', 'pinned', 'error']);
export type UpdateStatus = z.infer<typeof UpdateStatus>;

export const ImageCheckSchema = z.object({
  /** The reference the containers' configuration names (`nginx:1.27`). */
  image: z.string(),
  containers: z.array(z.string()),
  /** Normalised repository (`docker.io/library/nginx`) and the tag checked. */
  repository: z.string().optional(),
  tag: z.string().optional(),
  /** The image id the containers run. */
  image_id: z.string().optional(),
  local_digest: z.string().nullable(),
  remote_digest: z.string().nullable(),
  status: UpdateStatus,
  error: z.string().optional(),
  /** Of the image the remote digest names, when the registry told. */
  created: z.string().optional(),
  version: z.string().optional(),
  source: z.string().optional(),
  platform: z.object({ os: z.string().optional(), architecture: z.string().optional(), variant: z.string().optional() }).optional(),
});
export type ImageCheck = z.infer<typeof ImageCheckSchema>;

export const UpdateEntrySchema = z.object({
  node: z.string(),
  service: z.string(),
  checked_at: z.string(),
  images: z.array(ImageCheckSchema),
  /** The service could not be checked at all (engine unreachable, container missing). */
  error: z.string().optional(),
});
export type UpdateEntry = z.infer<typeof UpdateEntrySchema>;
export const SkipSchema = z.object({
  digest: z.string(),
  at: z.string(),
  reason: z.enum(['skipped', 'rolled_back']),
  by: z.string().optional(),
  note: z.string().optional(),
});
export type Skip = z.infer<typeof SkipSchema>;
/** `node/service` → the remote digests not to propose again. */
export type Skips = Record<string, Skip[]>;

/** `node/service` → the check's result. */
export type Updates = Record<string, UpdateEntry>;

/** The images of a check that are behind their tag, leaving out digests skipped or rolled back. */
export function outdatedImages(images: readonly ImageCheck[], skips: Skips[string] | undefined): ImageCheck[] {
  return images.filter((i) => i.status === 'image_update_available' && i.remote_digest && !skips?.some((x) => x.digest === i.remote_digest));
}

/** "nginx:1.27 1a2b3c4d5e6f → 6f5e4d3c2b1a" for each image. */
export function describeUpdates(images: readonly Pick<ImageCheck, 'image' | 'local_digest' | 'remote_digest' | 'version'>[]): string {
  return images.map((i) => `${i.image} ${shortDigest(i.local_digest)} → ${shortDigest(i.remote_digest)}${i.version ? ` (${i.version})` : ''}`).join(', ');
}

