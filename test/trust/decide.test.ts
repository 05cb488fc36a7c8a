/**
 * The whole trust model in one table (docs/transport.md "Trust model"): every
 * configuration row, and the fail-closed cases, against `decideTrust` with real
 * Ed25519 signatures made by node:crypto. The sources' own tests (test/transport,
 * test/oci) show that they fetch what this decision needs and act on it.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { publicKeyBytes } from '../../src/crypto/keys.js';
import { hasCode, throwsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';
import { assertKeyConfigured, trustRefusalError } from '../../src/trust/refusal.js';
import {
  decideImageTrust,
  decideTrust,
  firstArtifactRefusal,
  type ArtifactTrust,
  type ImageSignaturePolicy,
  type TrustDecision,
  type TrustEvidence,
  type TrustRefusal,
} from '../../src/trust/decide.js';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, raw: publicKeyBytes(publicKey) };
}
const publisher = keyPair();
const stranger = keyPair();
const metadataBytes = new Uint8Array(Buffer.from('{"version":"v1.2.3"}\n'));
const signedBy = (k: typeof publisher, bytes = metadataBytes) =>
  new Uint8Array(sign(null, bytes, k.privateKey));

type MetadataCase = 'signed' | 'signed-by-stranger' | 'tampered' | 'unsigned' | 'absent';
function metadataEvidence(m: MetadataCase): TrustEvidence['metadata'] {
  switch (m) {
    case 'signed':
      return { bytes: metadataBytes, signature: signedBy(publisher) };
    case 'signed-by-stranger':
      return { bytes: metadataBytes, signature: signedBy(stranger) };
    case 'tampered':
      // The signature is the publisher's, over other bytes than those served.
      return {
        bytes: metadataBytes,
        signature: signedBy(publisher, new Uint8Array(Buffer.from('{"version":"v9"}\n'))),
      };
    case 'unsigned':
      return { bytes: metadataBytes, signature: undefined };
    case 'absent':
      return undefined;
  }
}

interface Row {
  row: string;
  keys: 'publisher' | 'none' | 'stranger+publisher';
  allowUnsigned?: boolean;
  imageSignatures?: ImageSignaturePolicy;
  metadata: MetadataCase;
  imagesSigned: [vmlinuz: boolean, initramfs: boolean];
  /** The expected decision: metadata kind + each image's check, or the refusal. */
  expect:
    | { metadata: 'signed' | 'unsigned-allowed' | 'no-key'; images: [string, string] }
    | { refused: string; reason: string; artifact: string };
}

/** The configuration and evidence of a row: the keys, the metadata, each image signed or not. */
function given(
  keys: Row['keys'],
  metadata: MetadataCase,
  imagesSigned: Row['imagesSigned'],
  option: 'allow_unsigned_metadata' | 'always' | 'defaults' = 'defaults',
) {
  const allowUnsigned = option === 'allow_unsigned_metadata';
  const imageSignatures: ImageSignaturePolicy = option === 'always' ? 'always' : 'when-unpinned';
  return { keys, metadata, imagesSigned, allowUnsigned, imageSignatures };
}
const accept = (metadata: 'signed' | 'unsigned-allowed' | 'no-key', images: [string, string]) => ({
  metadata,
  images,
});
const refuse = (refused: string, reason: string) => ({ refused, reason, artifact: 'metadata' });

const ROWS: Row[] = [
  // docs/transport.md "Trust model", row by row.
  {
    row: 'key, latest.json signed (the normal case): images pinned, their signatures not needed',
    ...given('publisher', 'signed', [true, true]),
    expect: accept('signed', ['pinned', 'pinned']),
  },
  {
    row: 'key, latest.json signed, images unsigned: pinned all the same',
    ...given('publisher', 'signed', [false, false]),
    expect: accept('signed', ['pinned', 'pinned']),
  },
  {
    row: 'key, allow_unsigned_metadata, images signed: each image signature is checked',
    ...given('publisher', 'unsigned', [true, true], 'allow_unsigned_metadata'),
    expect: accept('unsigned-allowed', ['signature', 'signature']),
  },
  {
    row: 'key, OCI registry, signed metadata layer: layers pinned',
    ...given('publisher', 'signed', [false, true]),
    expect: accept('signed', ['pinned', 'pinned']),
  },
  {
    row: 'key, OCI registry without a metadata layer, allow_unsigned_metadata: layer signatures checked',
    ...given('publisher', 'absent', [true, true], 'allow_unsigned_metadata'),
    expect: accept('unsigned-allowed', ['signature', 'signature']),
  },
  {
    row: 'no key: SHA-256 and size only, whatever signatures are there',
    ...given('none', 'signed', [true, true]),
    expect: accept('no-key', ['digest-only', 'digest-only']),
  },
  {
    row: 'no key: even a signature that would not verify is not looked at',
    ...given('none', 'tampered', [false, false]),
    expect: accept('no-key', ['digest-only', 'digest-only']),
  },
  {
    row: 'no key, no metadata layer',
    ...given('none', 'absent', [false, false]),
    expect: accept('no-key', ['digest-only', 'digest-only']),
  },
  {
    row: 'kubesolo-release verify (imageSignatures always): every image signature that exists is checked',
    ...given('publisher', 'signed', [true, false], 'always'),
    expect: accept('signed', ['signature', 'pinned']),
  },
  {
    row: 'a key list: metadata signed by any one of the keys is signed',
    ...given('stranger+publisher', 'signed', [false, false]),
    expect: accept('signed', ['pinned', 'pinned']),
  },
  // Fail closed.
  {
    row: 'key, latest.json unsigned, not allowed: SIGNATURE_MISSING',
    ...given('publisher', 'unsigned', [true, true]),
    expect: refuse('SIGNATURE_MISSING', 'metadata-unsigned'),
  },
  {
    row: 'key, OCI without a metadata layer, not allowed: SIGNATURE_MISSING',
    ...given('publisher', 'absent', [true, true]),
    expect: refuse('SIGNATURE_MISSING', 'metadata-unsigned'),
  },
  {
    row: 'key, signature over other bytes: SIGNATURE_INVALID',
    ...given('publisher', 'tampered', [true, true]),
    expect: refuse('SIGNATURE_INVALID', 'metadata-signature-invalid'),
  },
  {
    row: 'key, signed by a key not configured: SIGNATURE_INVALID',
    ...given('publisher', 'signed-by-stranger', [true, true]),
    expect: refuse('SIGNATURE_INVALID', 'metadata-signature-invalid'),
  },
  {
    row: 'a bad metadata signature is never "unsigned", even with allow_unsigned_metadata',
    ...given('publisher', 'tampered', [true, true], 'allow_unsigned_metadata'),
    expect: refuse('SIGNATURE_INVALID', 'metadata-signature-invalid'),
  },
];

function configOf(row: Pick<Row, 'keys' | 'allowUnsigned' | 'imageSignatures'>) {
  return {
    keys:
      row.keys === 'none'
        ? []
        : row.keys === 'publisher'
          ? [publisher.raw]
          : [stranger.raw, publisher.raw],
    allowUnsignedMetadata: row.allowUnsigned ?? false,
    // The decision itself never looks at allow_unsigned: the key requirement is checked
    // before anything is fetched (assertKeyConfigured, below).
    allowUnsigned: false,
    imageSignatures: row.imageSignatures ?? 'when-unpinned',
  };
}

function decide(row: Row): TrustDecision {
  return decideTrust(configOf(row), {
    metadata: metadataEvidence(row.metadata),
    imageSigned: { vmlinuz: row.imagesSigned[0], initramfs: row.imagesSigned[1] },
  });
}

describe('decideTrust: the trust model of docs/transport.md', () => {
  for (const row of ROWS) {
    it(row.row, () => {
      const d = decide(row);
      if ('refused' in row.expect) {
        assert.equal(d.trusted, false, 'must be refused');
        if (d.trusted) return;
        assert.deepEqual(d.refusal, {
          code: row.expect.refused,
          reason: row.expect.reason,
          artifact: row.expect.artifact,
          // A signature that does not verify carries the keys it was tried with.
          ...(row.expect.refused === 'SIGNATURE_INVALID' ? { keys: configOf(row).keys } : {}),
        });
        // A refusal of the decision is thrown as a VerificationError (exit 4, trust/refusal.ts).
        assertCode(d.refusal.code, row.expect.refused, 4);
        return;
      }
      assert.equal(d.trusted, true, JSON.stringify(d));
      if (!d.trusted) return;
      assert.equal(d.metadata.kind, row.expect.metadata);
      assert.deepEqual([d.artifacts.vmlinuz.check, d.artifacts.initramfs.check], row.expect.images);
    });
  }

  it('signed metadata names the key that signed it; image checks accept every configured key', () => {
    const d = decide({ ...ROWS[0]!, keys: 'stranger+publisher', imageSignatures: 'always' });
    assert.ok(d.trusted && d.metadata.kind === 'signed');
    assert.deepEqual(d.metadata.key, publisher.raw);
    const v = d.artifacts.vmlinuz;
    assert.ok(v.check === 'signature');
    assert.deepEqual(v.keys, [stranger.raw, publisher.raw]);
  });

  for (const [signed, refused] of [
    [[false, true], 'vmlinuz'],
    [[true, false], 'initramfs'],
    [[false, false], 'vmlinuz'],
  ] as const) {
    it(`allow_unsigned_metadata with images signed ${JSON.stringify(signed)}: ${refused} refused, SIGNATURE_MISSING`, () => {
      const d = decide({
        row: '',
        keys: 'publisher',
        allowUnsigned: true,
        metadata: 'unsigned',
        imagesSigned: [signed[0], signed[1]],
        expect: { metadata: 'unsigned-allowed', images: ['', ''] },
      });
      assert.ok(d.trusted, 'the metadata itself is allowed');
      const checks: ArtifactTrust[] = [d.artifacts.vmlinuz, d.artifacts.initramfs];
      for (const [i, s] of signed.entries()) {
        assert.equal(checks[i]!.check, s ? 'signature' : 'refused');
      }
      const refusal = firstArtifactRefusal(d.artifacts);
      assertCode(refusal?.code, 'SIGNATURE_MISSING');
      assert.deepEqual(refusal, {
        code: 'SIGNATURE_MISSING',
        reason: 'image-unsigned',
        artifact: refused,
      });
    });
  }

  it('firstArtifactRefusal: none when every image is trusted', () => {
    const d = decide(ROWS[2]!);
    assert.ok(d.trusted);
    assert.equal(firstArtifactRefusal(d.artifacts), undefined);
  });
});

describe('decideImageTrust: staging under the staging source’s own configuration', () => {
  const keyed = configOf({ keys: 'publisher' });
  const cases: [string, MetadataCase, boolean, ArtifactTrust['check']][] = [
    ['metadata signed by the configured key: pinned', 'signed', false, 'pinned'],
    // A release fetched by a source without a key carries no metadata signature.
    [
      'metadata never checked (fetched without a key), image unsigned: refused',
      'unsigned',
      false,
      'refused',
    ],
    [
      'metadata never checked (fetched without a key), image signed: its signature',
      'unsigned',
      true,
      'signature',
    ],
    [
      'metadata signed by another key: not pinned, image unsigned: refused',
      'signed-by-stranger',
      false,
      'refused',
    ],
    [
      'metadata signed by another key, image signed: its signature',
      'signed-by-stranger',
      true,
      'signature',
    ],
    ['no metadata layer, image unsigned: refused', 'absent', false, 'refused'],
  ];
  for (const [name, metadata, imageSigned, check] of cases) {
    it(name, () => {
      const t = decideImageTrust(keyed, metadataEvidence(metadata), 'initramfs', imageSigned);
      assert.equal(t.check, check);
      if (t.check === 'refused') {
        assertCode(t.refusal?.code, 'SIGNATURE_MISSING');
        assert.deepEqual(t.refusal, {
          code: 'SIGNATURE_MISSING',
          reason: 'image-unsigned',
          artifact: 'initramfs',
        });
      }
    });
  }

  it('without a key: digest only, whatever the release carries', () => {
    const none = configOf({ keys: 'none' });
    assert.equal(
      decideImageTrust(none, metadataEvidence('tampered'), 'vmlinuz', false).check,
      'digest-only',
    );
  });
});

describe('the key requirement, decided in trust/ (assertKeyConfigured)', () => {
  const config = (keys: Uint8Array[], allowUnsigned: boolean) => ({
    keys,
    allowUnsignedMetadata: false,
    allowUnsigned,
    imageSignatures: 'when-unpinned' as const,
  });
  it('no key and no allow_unsigned: PUBKEY_REQUIRED, exit 2, naming both ways out', () => {
    const e = throwsWithCode(() => assertKeyConfigured(config([], false)), 'PUBKEY_REQUIRED', 2);
    assert.match(e.message, /pubkey=/);
    assert.match(e.message, /allow_unsigned=true/);
  });
  it('a key, or a lab that allows unsigned releases: allowed', () => {
    assert.doesNotThrow(() => assertKeyConfigured(config([publisher.raw], false)));
    assert.doesNotThrow(() => assertKeyConfigured(config([], true)));
  });
});

describe('the words of a refusal (trustRefusalError): one wording for every source', () => {
  const cases: [TrustRefusal, RegExp, string | undefined][] = [
    [
      {
        code: 'SIGNATURE_INVALID',
        reason: 'metadata-signature-invalid',
        artifact: 'metadata',
        keys: [publisher.raw, stranger.raw],
      },
      /^R: the metadata signature does not verify with the configured keys [0-9a-f]{16}, [0-9a-f]{16}: signed by another key/,
      undefined,
    ],
    [
      { code: 'SIGNATURE_MISSING', reason: 'metadata-unsigned', artifact: 'metadata' },
      /^R: the metadata is not signed and a public key is configured$/,
      'sign it, or set allow_unsigned_metadata=true',
    ],
    [
      { code: 'SIGNATURE_MISSING', reason: 'image-unsigned', artifact: 'initramfs' },
      /^R: initramfs has no signature of its own and the metadata is unsigned/,
      undefined,
    ],
  ];
  for (const [refusal, message, hint] of cases) {
    it(`${refusal.reason}: ${refusal.code}, exit 4, names the release and the artifact`, () => {
      const e = trustRefusalError(refusal, 'R', { url: 'u' });
      hasCode(refusal.code, 4)(e);
      assert.match(e.message, message);
      assert.equal(e.details.artifact, refusal.artifact);
      assert.equal(e.details.url, 'u');
      assert.equal(e.details.hint, hint);
    });
  }
});
