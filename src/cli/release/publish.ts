import { UsageError } from '../../errors.js';
import { loadPrivateKey } from '../../release/keys.js';
import { ARTIFACT_NAMES, imageFile, perImage } from '../../metadata/images.js';
import { imageWireFields } from '../../metadata/model.js';
import { setPublishedPause } from '../../release/pause.js';
import { IMAGE_FLAG, publishRelease } from '../../release/publish.js';
import { DEFAULT_DELTA_BASES } from '../../release/delta-files.js';
import { MAX_BASES } from '../../transport/delta/index-format.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import {
  releaseFieldsFromOptions,
  releaseInputOptions,
  releaseOptions,
  requiredOptionOf,
} from './release-options.js';
import type { ReleaseGlobal } from './global.js';
import { pauseOptions, pauseRequest } from './pause-options.js';
import { printSchedule } from './schedule.js';

const required = requiredOptionOf('publish');

function deltaBases(value: string | undefined): number {
  if (value === undefined) return DEFAULT_DELTA_BASES;
  if (!/^\d{1,2}$/.test(value) || Number(value) > MAX_BASES) {
    throw new UsageError(
      'INVALID_DELTA_BASES',
      `--delta-bases takes 0 to ${MAX_BASES}, not '${value}'`,
      {
        details: { option: 'delta-bases', value },
      },
    );
  }
  return Number(value);
}

function patchLevel(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,2}$/.test(value) || Number(value) < 1 || Number(value) > 19) {
    throw new UsageError('INVALID_PATCH_LEVEL', `--patch-level takes 1 to 19, not '${value}'`, {
      details: { option: 'patch-level', value },
    });
  }
  return Number(value);
}

export const publishCommand: Command<ReleaseGlobal> = {
  name: 'publish',
  summary: 'Lay out a signed release directory with latest.json',
  usage:
    'publish --key KEY --release-version V --kernel FILE --initramfs FILE --out DIR [options]\n       publish --pause|--resume --key KEY --out DIR',
  description: [
    'Copies the images into OUT/V/, signs them, writes and signs OUT/latest.json last.',
    'latest.json is replaced by one atomic rename: a failed publish leaves the old one.',
    'URLs are relative to latest.json unless --base-url is given. See docs/publishing.md.',
    '--pause (or --resume) with only --key and --out signs the live latest.json again with',
    'the rollout paused (resumed): devices that have not started it do not.',
  ].join('\n'),
  // The old spelling: kept so existing scripts work; -V / --version (no command) prints
  // the tool's version.
  aliases: { version: 'release-version' },
  options: {
    ...releaseInputOptions,
    out: { type: 'string', valueName: 'DIR', description: 'Release directory to publish into' },
    ...releaseOptions,
    'base-url': {
      type: 'string',
      valueName: 'URL',
      description: 'Absolute URL where OUT will be served (default: relative URLs)',
    },
    force: { type: 'boolean', description: 'Replace an already published version folder' },
    'no-delta-index': {
      type: 'boolean',
      description: 'Write no delta index (devices then always download whole images)',
    },
    'patch-level': {
      type: 'string',
      valueName: 'N',
      description:
        'zstd level of the patches, 1-19 (default 19: smallest; 12 is ten times faster, ~12 % larger)',
    },
    'delta-bases': {
      type: 'string',
      valueName: 'N',
      description: `Earlier releases in OUT to write patch packs from (default ${DEFAULT_DELTA_BASES}; 0: none)`,
    },
    ...pauseOptions,
  },
  async run({ values, log, out }) {
    const keyPath = required(values, 'key');
    const pause = pauseRequest(values, 'publish', [
      'release-version',
      ...Object.values(IMAGE_FLAG),
    ]);
    if (pause.kind === 'resign') {
      const key = await loadPrivateKey(keyPath);
      const r = await setPublishedPause({
        outDir: required(values, 'out'),
        key,
        paused: pause.paused,
        now: new Date(),
      });
      log.info(r.paused ? 'rollout paused' : 'rollout resumed', { version: r.version });
      out.line(
        `${r.paused ? 'paused' : 'resumed'} the rollout of ${r.version} (${r.metadataPath} signed again)`,
      );
      out.data({ ok: true, ...r });
      return;
    }
    const options = {
      ...releaseFieldsFromOptions(values, new Date(), { arch: false, command: 'publish' }),
      paused: pause.kind === 'publish-paused',
      version: required(values, 'release-version'),
      imagePaths: perImage((name) => required(values, IMAGE_FLAG[name])),
      outDir: required(values, 'out'),
      baseUrl: stringOpt(values, 'base-url'),
      force: boolOpt(values, 'force'),
      delta: {
        index: !boolOpt(values, 'no-delta-index'),
        bases: deltaBases(stringOpt(values, 'delta-bases')),
        patchLevel: patchLevel(stringOpt(values, 'patch-level')),
      },
    };
    const key = await loadPrivateKey(keyPath);
    const r = await publishRelease({ key, ...options });
    log.info('published', { version: r.metadata.version, metadata: r.metadataPath });
    out.line(`published ${r.metadata.version} to ${r.metadataPath}`);
    for (const name of ARTIFACT_NAMES) {
      const f = imageWireFields(name);
      out.line(
        `  ${imageFile(name).padEnd(14)}  ${r.metadata[f.size]} bytes  sha256 ${r.metadata[f.sha256]}`,
      );
    }
    for (const name of ARTIFACT_NAMES) {
      const size = r.metadata[imageWireFields(name).indexSize];
      if (size !== undefined) out.line(`  ${`${imageFile(name)}.index`.padEnd(14)}  ${size} bytes`);
    }
    if (r.metadata.expires) out.line(`  expires         ${r.metadata.expires}`);
    if (r.metadata.min_version) out.line(`  min_version     ${r.metadata.min_version}`);
    if (r.metadata.paused)
      out.line(`  paused          devices do not start it until publish --resume`);
    printSchedule(out, options.rollout);
    out.line(`  public key      ${r.publicKeyHex}`);
    out.data({
      ok: true,
      metadataPath: r.metadataPath,
      versionDir: r.versionDir,
      metadata: r.metadata,
    });
  },
};
