/**
 * A one-command stop (docs/publishing.md "Pausing a rollout"): `publish --pause` takes the
 * live latest.json of a release directory, sets `paused: true`, signs it again and puts
 * it back; `--resume` removes the field. Devices that have not started the release do not
 * start it (ROLLOUT_PAUSED); a device that staged it does not activate it (activation
 * fetches the metadata again); a device already on trial is judged by its health check.
 * hawkBit pauses a rollout the same way when a group's error threshold is crossed.
 *
 * Only `paused` changes: the images, the schedule, the expiry and every other field are
 * kept byte for byte as the JSON document had them (unknown fields included), so resuming
 * later continues the same rollout. The result is checked with the device's own parser
 * before it is written; metadata that has already expired must be published again.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesToHex, encodeSignature, publicKeyBytes } from '../crypto/keys.js';
import { errnoCode, OperationError, UsageError } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';
import { readInputFile } from '../fs/input-file.js';
import { METADATA_FILE } from '../metadata/model.js';
import { refuseWhatDevicesRefuse } from './device-rules.js';
import { signBytes, verifyBytes } from './sign.js';

/** The metadata document with `paused` set (or removed), as bytes to sign and serve. */
export function withPaused(current: Uint8Array, paused: boolean, where: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(current).toString('utf8'));
  } catch (err) {
    throw new UsageError('METADATA_MALFORMED', `${where} is not JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new UsageError('METADATA_MALFORMED', `${where} is not a JSON object`);
  }
  const next: Record<string, unknown> = { ...(doc as Record<string, unknown>) };
  delete next.paused;
  if (paused) next.paused = true;
  // The form publish writes (src/metadata/model.ts serializeLatestJson).
  return Buffer.from(JSON.stringify(next, null, 2) + '\n');
}

export interface PauseResult {
  metadataPath: string;
  version: string;
  paused: boolean;
  /** The signature files written (OUT/latest.json.sig and the version folder's copy). */
  signatures: string[];
  publicKeyHex: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Pause (or resume) the release published in `outDir`. The signatures are written first,
 * latest.json last (the commit point, as in publish): a client between the two sees the
 * old document with a new signature and refuses it until its next check (fail closed).
 */
export async function setPublishedPause(o: {
  outDir: string;
  key: KeyObject;
  paused: boolean;
  now: Date;
}): Promise<PauseResult> {
  const metadataPath = join(o.outDir, METADATA_FILE);
  const current = await readInputFile(metadataPath, {
    hint: '--pause and --resume sign a published release again',
  });
  const bytes = withPaused(current, o.paused, metadataPath);
  refuseWhatDevicesRefuse(bytes, 'http://release.invalid/latest.json', o.now);
  const version = (JSON.parse(bytes.toString('utf8')) as { version: string }).version;
  const signature = signBytes(o.key, bytes);
  if (!verifyBytes(createPublicKey(o.key), bytes, signature)) {
    throw new OperationError('SELF_CHECK_FAILED', 'a signature did not verify with its own key');
  }
  const signatures = [join(o.outDir, `${METADATA_FILE}.sig`)];
  // publish's layout points metadata_sig_url at the version folder's copy.
  const inVersion = join(o.outDir, version, `${METADATA_FILE}.sig`);
  if (await isFile(inVersion)) signatures.push(inVersion);
  for (const path of signatures) {
    await atomicWriteFile(path, encodeSignature(signature, 'hex'));
  }
  await atomicWriteFile(metadataPath, bytes);
  return {
    metadataPath,
    version,
    paused: o.paused,
    signatures,
    publicKeyHex: bytesToHex(publicKeyBytes(o.key)),
  };
}
