/**
 * `kubesolo-release publish`: lay out a release directory that any static web server
 * can serve (docs/design.md §3.3):
 *
 *   OUT/latest.json              the metadata the agent fetches
 *   OUT/latest.json.sig          its signature, at the conventional place
 *   OUT/<version>/vmlinuz        + vmlinuz.sig
 *   OUT/<version>/kubesolo-os.gz + kubesolo-os.gz.sig
 *   OUT/<version>/latest.json.sig  the signature `metadata_sig_url` points at
 *
 * Atomicity: everything is built in a temp directory inside OUT (same filesystem),
 * the version folder is renamed into place, and only then is latest.json renamed over
 * the old one. That rename is the single commit point: the signature it references
 * (`<version>/latest.json.sig`) is already in place, so a client never sees a new
 * latest.json without its signature, and a publish that fails or is killed leaves the
 * old latest.json serving the old release.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { KubesoloError, OperationError, UsageError, errnoCode } from '../errors.js';
import { bytesToHex, encodeSignature, publicKeyBytes } from '../crypto/keys.js';
import { atomicWriteFile, fsyncDir } from '../fs/atomic.js';
import { readInputFile } from '../fs/input-file.js';
import { ARTIFACT_NAMES, imageFile, perImage, type ArtifactName } from '../metadata/images.js';
import {
  latestJsonOf,
  METADATA_FILE,
  serializeLatestJson,
  type LatestJson,
} from '../metadata/model.js';
import { releaseFields, rfc3339, type ReleaseFields } from './fleet-fields.js';
import { refuseWhatDevicesRefuse } from './device-rules.js';
import { signBytes, verifyBytes } from './sign.js';
import { deltaFilesFor, type DeltaPublishOptions } from './delta-files.js';
import type { BuiltIndex } from '../transport/delta/publish-index.js';

/**
 * latest.json as `publish` writes it: the model (src/metadata/model.ts) with the
 * fields this layout always sets made required.
 */
export type PublishedLatestJson = LatestJson &
  Required<
    Pick<
      LatestJson,
      | 'vmlinuz_sig_url'
      | 'vmlinuz_size'
      | 'initramfs_sig_url'
      | 'initramfs_size'
      | 'metadata_sig_url'
      | 'release_date'
    >
  >;

/** The command-line flag that names each image's file (`--kernel`, `--initramfs`). */
export const IMAGE_FLAG: Record<ArtifactName, string> = {
  vmlinuz: 'kernel',
  initramfs: 'initramfs',
};

export type PublishStep =
  'staged' | 'version-in-place' | 'metadata-in-place' | 'metadata-sig-copied';

export interface PublishOptions extends ReleaseFields {
  /** Delta index and patch packs (docs/delta.md); written by default. */
  delta?: DeltaPublishOptions;
  key: KeyObject;
  version: string;
  /** Each image's file on the publisher's disk. */
  imagePaths: Record<ArtifactName, string>;
  outDir: string;
  /** Absolute base URL of OUT; without it URLs are relative to latest.json. */
  baseUrl?: string;
  /** Replace an existing version folder. */
  force?: boolean;
  clock?: Clock;
  /** Test hook, called after each step; throwing simulates a crash there. */
  onStep?: (step: PublishStep) => void;
}

export interface PublishResult {
  metadataPath: string;
  metadata: PublishedLatestJson;
  versionDir: string;
  publicKeyHex: string;
}

function checkOptions(o: PublishOptions): void {
  if (o.channel !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.channel)) {
    throw new UsageError('INVALID_CHANNEL', `invalid --channel '${o.channel}'`);
  }
  if (o.architecture !== undefined && !/^[a-z0-9_]+$/.test(o.architecture)) {
    throw new UsageError(
      'INVALID_ARCH',
      `--arch takes a Go architecture name such as amd64 or arm64, not '${o.architecture}'`,
    );
  }
  if (o.baseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(o.baseUrl);
    } catch (err) {
      throw new UsageError('INVALID_BASE_URL', `--base-url '${o.baseUrl}' is not a URL`, {
        cause: err,
      });
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) {
      throw new UsageError(
        'INVALID_BASE_URL',
        '--base-url must be an http: or https: URL without credentials',
      );
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** URL of `rel` (a path inside OUT): absolute under --base-url, else relative to latest.json. */
function urlFor(baseUrl: string | undefined, rel: string): string {
  if (baseUrl === undefined) return rel;
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  return new URL(rel, base).toString();
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** The release's latest.json: its images in OUT/<version>/, URLs relative or under --base-url. */
export function buildMetadata(
  o: PublishOptions,
  images: Record<ArtifactName, Uint8Array>,
  now: Date,
  indexes: Partial<Record<ArtifactName, Uint8Array>> = {},
): PublishedLatestJson {
  const dir = encodeURIComponent(o.version);
  const url = (file: string) => urlFor(o.baseUrl, `${dir}/${file}`);
  // Every field PublishedLatestJson requires is set here (test/metadata/model.test.ts).
  return latestJsonOf({
    version: o.version,
    images: perImage((name) => {
      const index = indexes[name];
      return {
        url: url(imageFile(name)),
        sha256: sha256(images[name]),
        signatureUrl: url(`${imageFile(name)}.sig`),
        size: images[name].length,
        // The delta index, pinned like the image (docs/delta.md).
        ...(index === undefined
          ? {}
          : {
              index: {
                url: url(`${imageFile(name)}.index`),
                sha256: sha256(index),
                size: index.length,
              },
            }),
      };
    }),
    metadataSigUrl: url(`${METADATA_FILE}.sig`),
    releaseDate: rfc3339(now),
    ...releaseFields(o, now),
  }) as PublishedLatestJson;
}

/**
 * Each image's delta index and patch packs (unless `delta.index` is false), cut from
 * a copy of the bytes read (the input may change meanwhile; what is signed is what is
 * indexed), with the earlier releases in OUT as bases.
 */
async function deltaFiles(
  o: PublishOptions,
  images: Record<ArtifactName, Buffer>,
): Promise<Partial<Record<ArtifactName, BuiltIndex>>> {
  if (o.delta?.index === false) return {};
  const work = await mkdtemp(join(tmpdir(), 'kubesolo-publish-delta-'));
  try {
    const out: Partial<Record<ArtifactName, BuiltIndex>> = {};
    for (const name of ARTIFACT_NAMES) {
      const copy = join(work, imageFile(name));
      await writeFile(copy, images[name]);
      out[name] = await deltaFilesFor(copy, imageFile(name), o.outDir, o.version, o.delta ?? {});
    }
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export async function publishRelease(o: PublishOptions): Promise<PublishResult> {
  checkOptions(o);
  const step = o.onStep ?? (() => undefined);
  const now = (o.clock ?? systemClock).now();
  // Read each input once: the bytes hashed and signed are the bytes written, even if
  // the source file changes while we run.
  const images = {} as Record<ArtifactName, Buffer>;
  for (const name of ARTIFACT_NAMES) {
    images[name] = await readInputFile(o.imagePaths[name], { option: `--${IMAGE_FLAG[name]}` });
  }

  // What a device would refuse is refused before anything is written: the version by
  // the one version rule among the rest, before it names a folder (no `/`, `..`).
  // Relative URLs resolve against wherever OUT is served; any http: base will do.
  const deviceUrl = o.baseUrl ?? 'http://release.invalid/latest.json';
  refuseWhatDevicesRefuse(serializeLatestJson(buildMetadata(o, images, now)), deviceUrl, now);

  await mkdir(o.outDir, { recursive: true });
  const versionDir = join(o.outDir, o.version);
  const hadVersion = await exists(versionDir);
  if (hadVersion && !o.force) {
    throw new UsageError(
      'VERSION_EXISTS',
      `${versionDir} already exists; publish a new version, or use --force to replace it`,
      { details: { path: versionDir } },
    );
  }

  // The delta files, cut from the very bytes published, pinned in the metadata.
  const delta = await deltaFiles(o, images);
  const meta = buildMetadata(
    o,
    images,
    now,
    perImage((name) => delta[name]?.bytes),
  );
  const metaBytes = serializeLatestJson(meta);
  refuseWhatDevicesRefuse(metaBytes, deviceUrl, now);

  const imageSigs = perImage((name) => signBytes(o.key, images[name]));
  // docs/design.md §3.4: the metadata is signed last, over its exact bytes as served.
  const metaSig = signBytes(o.key, metaBytes);
  // Check our own work with the public half before anything goes live.
  const pub = createPublicKey(o.key);
  const signed: [Uint8Array, Uint8Array][] = [
    ...ARTIFACT_NAMES.map((name): [Uint8Array, Uint8Array] => [images[name], imageSigs[name]]),
    [metaBytes, metaSig],
  ];
  for (const [data, sig] of signed) {
    if (!verifyBytes(pub, data, sig)) {
      throw new OperationError('SELF_CHECK_FAILED', 'a signature did not verify with its own key');
    }
  }

  const tmp = await mkdtemp(join(o.outDir, '.publish-'));
  const stagedVersion = join(tmp, o.version);
  let versionMoved = false;
  let committed = false;
  let oldVersionAside: string | undefined;
  try {
    await mkdir(stagedVersion);
    const files: [string, Uint8Array][] = [
      ...ARTIFACT_NAMES.flatMap((name): [string, Uint8Array][] => [
        [imageFile(name), images[name]],
        [`${imageFile(name)}.sig`, encodeSignature(imageSigs[name], 'hex')],
      ]),
      [`${METADATA_FILE}.sig`, encodeSignature(metaSig, 'hex')],
      ...ARTIFACT_NAMES.flatMap((name): [string, Uint8Array][] => {
        const built = delta[name];
        if (built === undefined) return [];
        return [
          [`${imageFile(name)}.index`, built.bytes],
          ...built.packs.map((p): [string, Uint8Array] => [p.file, p.bytes]),
        ];
      }),
    ];
    for (const [name, data] of files) await atomicWriteFile(join(stagedVersion, name), data);
    await atomicWriteFile(join(tmp, METADATA_FILE), metaBytes);
    step('staged');

    if (hadVersion) {
      oldVersionAside = join(tmp, `old-${o.version}`);
      await rename(versionDir, oldVersionAside);
    }
    await rename(stagedVersion, versionDir);
    versionMoved = true;
    await fsyncDir(o.outDir);
    step('version-in-place');

    // The commit point.
    await rename(join(tmp, METADATA_FILE), join(o.outDir, METADATA_FILE));
    committed = true;
    await fsyncDir(o.outDir);
    step('metadata-in-place');

    // For clients that look for the signature next to latest.json by convention. Between
    // the rename above and this write such a client sees the previous signature and
    // refuses the metadata (fail-closed) until its next check.
    await atomicWriteFile(join(o.outDir, `${METADATA_FILE}.sig`), encodeSignature(metaSig, 'hex'));
    step('metadata-sig-copied');
  } catch (err) {
    if (!committed && versionMoved) {
      // Take the unreferenced new folder back out and restore the old one, so the
      // live latest.json keeps matching the files next to it.
      await rm(versionDir, { recursive: true, force: true }).catch(() => undefined);
      if (oldVersionAside) await rename(oldVersionAside, versionDir).catch(() => undefined);
    } else if (!committed && oldVersionAside) {
      await rename(oldVersionAside, versionDir).catch(() => undefined);
    }
    throw err instanceof KubesoloError
      ? err
      : new OperationError('PUBLISH_FAILED', `publishing to ${o.outDir} failed`, {
          cause: err,
          details: { out: o.outDir },
        });
  } finally {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }

  return {
    metadataPath: join(o.outDir, METADATA_FILE),
    metadata: meta,
    versionDir,
    publicKeyHex: bytesToHex(publicKeyBytes(o.key)),
  };
}
