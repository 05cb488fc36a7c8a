import { strict as assert } from 'node:assert';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import {
  bytesToHex,
  describeKeys,
  hexToBytes,
  keyFingerprint,
  parsePublicKey,
  parseSignature,
  publicKeyBytes,
  publicKeyObject,
} from '../../src/crypto/keys.js';
import { loadKeySet } from '../../src/crypto/key-set.js';
import { verifyEd25519 } from '../../src/crypto/ed25519.js';
import { hasCode, rejectsWithCode, throwsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

const RFC_PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

describe('public key files (docs/design.md §3.4: 64 hex, whitespace trimmed)', () => {
  const tmp = useTempDir('ks-keys-', 'all');

  it('parses 64 hex characters with surrounding whitespace, either case', () => {
    assert.equal(bytesToHex(parsePublicKey(`  ${RFC_PUB}\n`)), RFC_PUB);
    assert.equal(bytesToHex(parsePublicKey(RFC_PUB.toUpperCase())), RFC_PUB);
  });

  it('names a key by its fingerprint: the first 16 hex of the SHA-256 of the raw 32 bytes', () => {
    // sha256 of RFC 8032 test 1's key bytes, computed outside Node (xxd -r -p | sha256sum).
    assert.equal(keyFingerprint(parsePublicKey(RFC_PUB)), '21fe31dfa154a261');
    assert.equal(describeKeys([parsePublicKey(RFC_PUB)]), 'key 21fe31dfa154a261');
  });

  it('rejects wrong length, non-hex, off-curve and small-order keys with PUBKEY_INVALID', () => {
    for (const bad of [
      '',
      RFC_PUB.slice(2),
      RFC_PUB + '00',
      'zz' + RFC_PUB.slice(2),
      '02' + '00'.repeat(31),
      '01' + '00'.repeat(31),
    ]) {
      const e = throwsWithCode(() => parsePublicKey(bad), 'PUBKEY_INVALID', 2);
      assert.ok(e instanceof ConfigError, bad);
    }
  });

  it('loads a key file (a key set of one), and reports unreadable or invalid files with the path', async () => {
    const good = join(tmp.dir, 'update.pub');
    await writeFile(good, RFC_PUB + '\n');
    assert.deepEqual(
      (await loadKeySet(good)).map((k) => bytesToHex(k.key)),
      [RFC_PUB],
    );
    await assert.rejects(loadKeySet(join(tmp.dir, 'missing.pub')), hasCode('PUBKEY_UNREADABLE', 2));
    const bad = join(tmp.dir, 'bad.pub');
    await writeFile(bad, 'not a key');
    const e = await rejectsWithCode(loadKeySet(bad), 'PUBKEY_INVALID', 2);
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.details.path, bad);
  });

  it('converts between raw bytes and node:crypto KeyObjects', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKeyBytes(publicKey);
    assert.equal(raw.length, 32);
    assert.deepEqual(publicKeyBytes(privateKey), raw);
    assert.deepEqual(publicKeyBytes(publicKeyObject(raw)), raw);
    assert.throws(
      () => publicKeyBytes(new Uint8Array(31)),
      (e: unknown) => e instanceof ConfigError,
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    assert.throws(() => publicKeyBytes(rsa), hasCode('PUBKEY_INVALID', 2));
  });
});

describe('signature files (docs/design.md §3.4: 64 raw bytes or 128 hex)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const message = randomBytes(100);
  const sig = new Uint8Array(sign(null, message, privateKey));
  const pub = publicKeyBytes(publicKey);

  it('accepts raw and hex (trimmed, either case) forms of the same signature', () => {
    for (const form of [
      sig,
      Buffer.from(bytesToHex(sig) + '\n'),
      Buffer.from(`\t${bytesToHex(sig).toUpperCase()}  \r\n`),
    ]) {
      const parsed = parseSignature(new Uint8Array(form));
      assert.deepEqual(parsed, sig);
      assert.equal(verifyEd25519(message, parsed, pub), true);
    }
  });

  it('rejects other shapes with SIGNATURE_MALFORMED (exit 4)', () => {
    const bad = [
      new Uint8Array(63),
      new Uint8Array(65),
      Buffer.from(bytesToHex(sig).slice(1)),
      Buffer.from('g'.repeat(128)),
      new Uint8Array(5000),
    ];
    for (const b of bad) {
      assert.throws(() => parseSignature(new Uint8Array(b)), hasCode('SIGNATURE_MALFORMED', 4));
    }
  });

  it('hex helpers reject odd length and non-hex', () => {
    assert.equal(hexToBytes('abc'), undefined);
    assert.equal(hexToBytes('zz'), undefined);
    assert.deepEqual(hexToBytes('00ff'), new Uint8Array([0, 255]));
  });
});
