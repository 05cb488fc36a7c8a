/**
 * The images a release is made of, in one table: each artifact's name, the prefix of
 * its fields in latest.json, and its file name (in a published release folder, as a
 * registry layer's title, and in a slot: a slot holds a release's files under the
 * names they were published with). Boards that boot more than a kernel and an
 * initramfs (device trees, firmware) add rows here; the parser, the writers, the
 * sources and the slots all go by this table (docs/formats.md "Images").
 */

export interface ImageKind {
  /** latest.json fields are `<wire>_url`, `<wire>_sha256`, ... (the Go agent's names). */
  readonly wire: string;
  /** File name in a release folder, a layer title and a slot. */
  readonly file: string;
  /** What the image is called in messages. */
  readonly title: string;
}

export const IMAGE_KINDS = {
  vmlinuz: { wire: 'vmlinuz', file: 'vmlinuz', title: 'kernel' },
  initramfs: { wire: 'initramfs', file: 'kubesolo-os.gz', title: 'initramfs' },
} as const satisfies Record<string, ImageKind>;

export type ArtifactName = keyof typeof IMAGE_KINDS;

/** Every image of a release, in the order they are staged. */
export const ARTIFACT_NAMES = Object.keys(IMAGE_KINDS) as readonly ArtifactName[];

/** The file name of an image (release folder, layer title, slot). */
export function imageFile(name: ArtifactName): string {
  return IMAGE_KINDS[name].file;
}

/** One value per image, built from its name. */
export function perImage<T>(make: (name: ArtifactName) => T): Record<ArtifactName, T> {
  return Object.fromEntries(ARTIFACT_NAMES.map((n) => [n, make(n)])) as Record<ArtifactName, T>;
}
