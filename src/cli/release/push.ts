import { UsageError } from '../../errors.js';
import { loadPrivateKey } from '../../release/keys.js';
import { perImage } from '../../metadata/images.js';
import { IMAGE_FLAG } from '../../release/publish.js';
import { setPushedPause } from '../../release/oci-pause.js';
import { pushRelease, type UploadMode } from '../../release/oci-push.js';
import { createDispatcher } from '../../transport/dispatcher.js';
import { resolveCredentials } from '../../transport/oci/auth.js';
import { parseRegistryReference } from '../../transport/oci/reference.js';
import { stringOpt, type Command } from '../command.js';
import {
  releaseFieldsFromOptions,
  releaseInputOptions,
  releaseOptions,
  requiredOptionOf,
} from './release-options.js';
import type { ReleaseGlobal } from './global.js';
import { pauseOptions, pauseRequest } from './pause-options.js';

const required = requiredOptionOf('push');

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export const pushCommand: Command<ReleaseGlobal> = {
  name: 'push',
  summary: 'Push a release to an OCI registry',
  usage:
    'push --registry REF --tag TAG --kernel FILE --initramfs FILE --release-version V --arch ARCH [options]',
  description:
    'Uploads the kernel, the initramfs and a latest.json layer (signed with --key) as one\n' +
    'manifest per architecture, tagged TAG-ARCH, and adds it to the image index under TAG\n' +
    '(entries of other architectures are kept). REF is [http://|https://]host[:port]/repo;\n' +
    'loopback hosts default to http, others to https. See docs/oci.md.\n' +
    '--pause (or --resume) with only --registry, --tag, --arch and --key signs the live\n' +
    'latest.json layer again with the rollout paused (resumed).',
  // The old spelling: kept so existing scripts work; -V / --version (no command) prints
  // the tool's version.
  aliases: { version: 'release-version' },
  options: {
    registry: { type: 'string', valueName: 'REF', description: 'Registry and repository' },
    tag: { type: 'string', valueName: 'TAG', description: 'Release tag, e.g. v0.3.0' },
    ...releaseInputOptions,
    'release-date': { type: 'string', valueName: 'RFC3339', description: 'Default: now' },
    ...releaseOptions,
    'chunk-size': {
      type: 'string',
      valueName: 'BYTES',
      description: 'Upload in chunks of BYTES (PATCH); default: one monolithic PUT',
    },
    username: { type: 'string', valueName: 'USER', description: 'Registry user name' },
    'password-stdin': {
      type: 'boolean',
      description: 'Read the registry password from stdin (or set KUBESOLO_REGISTRY_PASSWORD)',
    },
    'auth-file': {
      type: 'string',
      valueName: 'FILE',
      description: 'docker-style config.json with registry credentials',
    },
    'ca-file': { type: 'string', valueName: 'FILE', description: 'Extra CA bundle (PEM)' },
    ...pauseOptions,
  },
  async run({ values, log, out }) {
    const registry = required(values, 'registry');
    const tag = required(values, 'tag');
    const keyPath = stringOpt(values, 'key');
    const pause = pauseRequest(values, 'push', ['release-version', ...Object.values(IMAGE_FLAG)]);
    const chunkText = stringOpt(values, 'chunk-size');
    let uploadMode: UploadMode = 'monolithic';
    let chunkSize: number | undefined;
    if (chunkText !== undefined) {
      chunkSize = Number(chunkText);
      if (!/^\d+$/.test(chunkText) || !Number.isSafeInteger(chunkSize) || chunkSize < 1) {
        throw new UsageError('INVALID_CHUNK_SIZE', '--chunk-size must be a positive integer');
      }
      uploadMode = 'chunked';
    }
    const username = stringOpt(values, 'username');
    let password: string | undefined;
    if (values['password-stdin'] === true) password = await readStdin();
    else password = process.env.KUBESOLO_REGISTRY_PASSWORD;
    const ref = parseRegistryReference(registry);
    const caFile = stringOpt(values, 'ca-file');
    const credentials = await resolveCredentials(
      {
        ...(username !== undefined ? { username, password: password ?? '' } : {}),
        ...(stringOpt(values, 'auth-file') !== undefined
          ? { authFile: stringOpt(values, 'auth-file') }
          : {}),
      },
      ref.host,
    );
    const caDispatcher = () => createDispatcher(caFile === undefined ? {} : { caFile });
    const fields = releaseFieldsFromOptions(values, new Date(), { arch: true, command: 'push' });
    if (pause.kind === 'resign') {
      const r = await setPushedPause({
        registry,
        tag,
        architecture: fields.architecture,
        signingKey: await loadPrivateKey(required(values, 'key')),
        paused: pause.paused,
        credentials,
        dispatcher: caDispatcher(),
        log,
        now: new Date(),
      });
      out.line(
        `${r.paused ? 'paused' : 'resumed'} the rollout of ${r.version}: ${r.reference} ${r.indexDigest}`,
      );
      out.data({ ok: true, ...r });
      return;
    }
    const result = await pushRelease({
      registry,
      tag,
      imagePaths: perImage((name) => required(values, IMAGE_FLAG[name])),
      version: required(values, 'release-version'),
      ...fields,
      paused: pause.kind === 'publish-paused',
      releaseDate: stringOpt(values, 'release-date'),
      signingKey: keyPath === undefined ? undefined : await loadPrivateKey(keyPath),
      credentials,
      dispatcher: caDispatcher(),
      uploadMode,
      chunkSize,
      log,
    });
    if (!result.signed) log.warn('pushed without --key: devices with a public key will refuse it');
    out.line(`${result.reference} ${result.indexDigest}`);
    out.line(`${result.archReference} ${result.manifestDigest}`);
    out.data({ ok: true, ...result });
  },
};
