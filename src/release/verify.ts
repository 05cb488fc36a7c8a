/**
 * `kubesolo-release verify`: check a published release with the agent's own code
 * (src/transport/http-source.ts): the same size limit, parser, `expires` check, trust
 * policy (docs/design.md §3.4) and streaming size/SHA-256/signature checks a device applies.
 * Downloads go to a temp directory that is removed afterwards.
 *
 * A directory is served on an ephemeral loopback port by our static server first, so
 * relative URLs resolve exactly as they will on the real web server. Absolute URLs
 * (`publish --base-url`) are fetched from where they point.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { createHttpUpdateSource, type TransportLimits } from '../transport/http-source.js';
import {
  openSourceConnection,
  type ProgressEvent,
  type StagedArtifact,
} from '../transport/source.js';
import { verifyImageIndex, type VerifiedIndex } from '../transport/delta/verify-index.js';
import { ARTIFACT_NAMES } from '../metadata/images.js';
import { METADATA_FILE, type ReleaseMetadata } from '../metadata/model.js';
import { metadataUrlFor } from '../metadata/url.js';
import { createStaticServer, listen } from './serve.js';

export interface VerifyOptions {
  /** A release directory, an http(s) URL of latest.json, or of the folder holding it. */
  target: string;
  /** The raw 32-byte Ed25519 public key (`publicKey`) or a key set (`publicKeys`, any one may sign). */
  publicKey?: Uint8Array;
  publicKeys?: readonly Uint8Array[];
  allowUnsignedMetadata?: boolean;
  caFile?: string;
  log: Logger;
  clock?: Clock;
  limits?: Partial<TransportLimits>;
  onProgress?: (event: ProgressEvent) => void;
  /** Called after the metadata verified, before the downloads (for step-by-step output). */
  onMetadata?: (metadata: ReleaseMetadata, signedBy: string | undefined, url: string) => void;
}

export interface VerifyResult {
  metadataUrl: string;
  metadata: ReleaseMetadata;
  metadataSigned: boolean;
  /** The fingerprint of the key that signed the metadata (when signed). */
  metadataSignedBy?: string;
  artifacts: (Pick<StagedArtifact, 'artifact' | 'size' | 'sha256' | 'signatureVerified'> & {
    /** The image's delta index, recomputed from the image and found equal (docs/delta.md). */
    index?: VerifiedIndex;
  })[];
}

const isUrl = (t: string): boolean => /^https?:\/\//i.test(t);

export async function verifyRelease(o: VerifyOptions): Promise<VerifyResult> {
  const log = o.log;
  let server: Server | undefined;
  let metadataUrl: string;
  if (isUrl(o.target)) {
    metadataUrl = metadataUrlFor(o.target);
  } else {
    const st = await stat(o.target).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new UsageError(
        'VERIFY_TARGET_INVALID',
        `${o.target} is neither an http(s) URL nor a release directory`,
        { details: { target: o.target } },
      );
    }
    server = await createStaticServer(o.target, { log });
    metadataUrl = (await listen(server, { host: '127.0.0.1', port: 0 })) + METADATA_FILE;
  }
  const staging = await mkdtemp(join(tmpdir(), 'kubesolo-verify-'));
  const connection = openSourceConnection({
    ...(o.caFile === undefined ? {} : { caFile: o.caFile }),
    ...(o.limits === undefined ? {} : { limits: o.limits }),
  });
  const source = createHttpUpdateSource({
    metadataUrl,
    ...(o.publicKey === undefined ? {} : { publicKey: o.publicKey }),
    ...(o.publicKeys === undefined ? {} : { publicKeys: o.publicKeys }),
    allowUnsignedMetadata: o.allowUnsignedMetadata ?? false,
    // A publisher checks every signature it is about to announce, pinned or not.
    imageSignatures: 'always',
    log,
    ...(o.caFile === undefined ? {} : { caFile: o.caFile }),
    ...(o.clock === undefined ? {} : { clock: o.clock }),
    ...(o.limits === undefined ? {} : { limits: o.limits }),
  });
  try {
    const release = await source.fetchRelease();
    o.onMetadata?.(release.metadata, release.metadataSignedBy, metadataUrl);
    const artifacts: VerifyResult['artifacts'] = [];
    for (const artifact of ARTIFACT_NAMES) {
      const s = await source.stage(release, artifact, {
        stagingDir: staging,
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      const indexRef = release.metadata.images[artifact].index;
      const index =
        indexRef === undefined
          ? undefined
          : await verifyImageIndex({
              imagePath: s.path,
              imageSha256: s.sha256,
              imageSize: s.size,
              index: indexRef,
              stagingDir: staging,
              dispatcher: connection.dispatcher,
              log,
              ...(o.limits === undefined ? {} : { limits: o.limits }),
            });
      artifacts.push({
        artifact,
        size: s.size,
        sha256: s.sha256,
        signatureVerified: s.signatureVerified,
        ...(index === undefined ? {} : { index }),
      });
    }
    return {
      metadataUrl,
      metadata: release.metadata,
      metadataSigned: release.metadataSigned,
      ...(release.metadataSignedBy ? { metadataSignedBy: release.metadataSignedBy } : {}),
      artifacts,
    };
  } finally {
    await source.close();
    await connection.close();
    await rm(staging, { recursive: true, force: true });
    if (server) {
      const s = server;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }
}
