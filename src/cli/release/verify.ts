import { loadKeySet } from '../../crypto/key-set.js';
import { keyFingerprint, parsePublicKey } from '../../crypto/keys.js';
import { UsageError } from '../../errors.js';
import { verifyRelease } from '../../release/verify.js';
import { boolOpt, stringOpt, type Command, onlyPositional } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { printSchedule } from './schedule.js';

export const verifyCommand: Command<ReleaseGlobal> = {
  name: 'verify',
  summary: 'Check a published release exactly as the agent would',
  usage: 'verify --pubkey PUB|KEYSET DIR|URL',
  description: [
    "Fetches latest.json and both images with the agent's own download and verification",
    "code: size limits, fields, expires, the metadata signature, then each image's size,",
    'SHA-256 and signature. A DIR is served on a loopback port for the check. Nothing is',
    'kept. Exit 0 verified, 1 network/I/O failure, 2 usage, 4 verification failed.',
  ].join('\n'),
  options: {
    pubkey: {
      type: 'string',
      valueName: 'PUB',
      description:
        'Public key (64 hex characters), a key file (one key per line) or a directory of *.pub files: any key may sign',
    },
    'allow-unsigned-metadata': {
      type: 'boolean',
      description: 'Check as a device with allow_unsigned_metadata=true would',
    },
    'ca-file': {
      type: 'string',
      valueName: 'PEM',
      description: 'Extra CA bundle for a private HTTPS server',
    },
  },
  async run({ values, positionals, log, out }) {
    const pub = stringOpt(values, 'pubkey');
    if (pub === undefined) throw new UsageError('MISSING_OPTION', 'verify needs --pubkey PUB');
    const target = onlyPositional(positionals, 'verify needs exactly one DIR or URL');
    // 64 hex characters, or a key set: a file of keys (one per line) or a *.pub directory.
    const keySet = /^\s*[0-9a-fA-F]{64}\s*$/.test(pub)
      ? [{ key: parsePublicKey(pub), source: '--pubkey' }]
      : await loadKeySet(pub);
    const publicKeys = keySet.map((k) => k.key);
    const keys = keySet.map((k) => ({ fingerprint: keyFingerprint(k.key), source: k.source }));
    for (const k of keys) out.line(`key        ${k.fingerprint} (${k.source})`);
    const caFile = stringOpt(values, 'ca-file');
    const r = await verifyRelease({
      target,
      publicKeys,
      allowUnsignedMetadata: boolOpt(values, 'allow-unsigned-metadata'),
      log,
      ...(caFile === undefined ? {} : { caFile }),
      onMetadata: (m, signedBy, url) => {
        out.line(
          `metadata   ${url}: version ${m.version}${m.channel ? `, channel ${m.channel}` : ''}` +
            `${m.architecture ? `, ${m.architecture}` : ''}${m.expires ? `, expires ${m.expires}` : ''}` +
            `${m.minVersion ? `, min_version ${m.minVersion}` : ''}` +
            `, signature ${signedBy ? `verified (key ${signedBy})` : 'absent (allowed)'}`,
        );
        printSchedule(out, m.rollout, new Date());
        if (m.paused) out.line('rollout    paused: devices do not start it (publish --resume)');
      },
    });
    for (const a of r.artifacts) {
      out.line(
        `${a.artifact.padEnd(10)} ${a.size} bytes, sha256 ${a.sha256}, signature ${a.signatureVerified ? 'verified' : 'none (hash covered by the signed metadata)'}`,
      );
      if (a.index !== undefined) {
        const bases = a.index.bases.map(
          (b) => `${b.version} (${b.patches} patches, ${b.packBytes} bytes)`,
        );
        out.line(
          `${''.padEnd(10)} delta index ${a.index.indexBytes} bytes, ${a.index.pieces} pieces (${a.index.mode}), recomputed and equal` +
            (bases.length > 0 ? `; patch packs from ${bases.join(', ')}` : ''),
        );
      }
    }
    out.line(`OK: release ${r.metadata.version} verifies as a device would accept it`);
    out.data({ ok: true, keys, ...r });
  },
};
