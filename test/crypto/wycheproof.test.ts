/**
 * Edge cases for the Ed25519 verifier: Project Wycheproof's Ed25519 set (vendored in
 * test/fixtures/wycheproof/, see its README), mixed-order public keys and
 * non-canonical R, each checked on both of the device's paths (the in-thread
 * verifier used for metadata, the off-thread one used for images). `kubesolo-release
 * verify` runs the same two paths, so publisher and device accept the same signatures.
 */
import { strict as assert } from 'node:assert';
import { createHash, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ed25519 } from '@noble/curves/ed25519.js';
import { verifyEd25519 } from '../../src/crypto/ed25519.js';
import { createOffThreadEd25519Verifier } from '../../src/crypto/ed25519-offthread.js';
import { publicKeyBytes } from '../../src/crypto/keys.js';
import { fromLe, le32 } from './scalars.js';

interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface WycheproofFile {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: WycheproofTest[] }[];
}

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'wycheproof', 'ed25519_test.json');
const suite = JSON.parse(readFileSync(FIXTURE, 'utf8')) as WycheproofFile;
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const Point = ed25519.Point;
const L = Point.Fn.ORDER;

/** Both device paths; they must agree with each other on every input. */
async function devicePaths(msg: Uint8Array, sig: Uint8Array, pk: Uint8Array): Promise<boolean> {
  const inThread = verifyEd25519(msg, sig, pk);
  const worker = createOffThreadEd25519Verifier(sig, pk);
  try {
    if (worker.update(msg)) await worker.ready();
    const offThread = await worker.verify();
    assert.equal(offThread, inThread, 'in-thread and off-thread verifiers disagree');
    return inThread;
  } finally {
    await worker.close();
  }
}

function opensslVerify(msg: Uint8Array, sig: Uint8Array, pk: Uint8Array): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pk]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, msg, key, sig);
  } catch {
    return false;
  }
}

describe('Ed25519: Wycheproof vectors', () => {
  it('the vendored file is the full Ed25519 set', () => {
    const n = suite.testGroups.reduce((sum, g) => sum + g.tests.length, 0);
    assert.equal(n, suite.numberOfTests);
    assert.ok(n >= 150, `${n} tests`);
  });

  it('every vector gets Wycheproof’s verdict on both device paths, and OpenSSL agrees', async () => {
    let valid = 0;
    for (const group of suite.testGroups) {
      const pk = hex(group.publicKey.pk);
      for (const t of group.tests) {
        const got = await devicePaths(hex(t.msg), hex(t.sig), pk);
        const label = `tcId ${t.tcId} (${t.comment || t.flags.join(',')})`;
        // The set has no "acceptable" Ed25519 vectors; if one appears, decide it here.
        assert.notEqual(t.result, 'acceptable', label);
        assert.equal(got, t.result === 'valid', label);
        assert.equal(opensslVerify(hex(t.msg), hex(t.sig), pk), got, `OpenSSL: ${label}`);
        if (got) valid++;
      }
    }
    assert.ok(valid > 10, `${valid} valid vectors`);
  });
});

describe('Ed25519: mixed-order keys and non-canonical R', () => {
  const msg = new TextEncoder().encode('kubesolo-os.gz');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pk = publicKeyBytes(publicKey);
  const good = new Uint8Array(sign(null, msg, privateKey));

  it('a key with a small-order component (A + T) does not verify its cofactored twin', async () => {
    // A signature for A' = A + T (T of order 8) made as a cofactored verifier would
    // accept it: S = r + k·a with k over A'. The cofactorless check rejects it unless
    // [k]T happens to be the identity; OpenSSL is cofactorless too.
    const secret = privateKey.export({ format: 'jwk' }).d!;
    const a = ed25519.utils.getExtendedPublicKey(Buffer.from(secret, 'base64url')).scalar;
    const torsion = Point.fromBytes(
      hex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa'),
    );
    assert.equal(torsion.isSmallOrder(), true);
    const mixed = Point.fromBytes(pk).add(torsion);
    assert.equal(mixed.isSmallOrder(), false);
    const mixedPk = mixed.toBytes();
    let rejected = 0;
    for (let r = 1n; r <= 16n; r++) {
      const R = Point.BASE.multiply(r).toBytes();
      const k = fromLe(createHash('sha512').update(R).update(mixedPk).update(msg).digest()) % L;
      const S = (r + k * a) % L;
      const sig = new Uint8Array([...R, ...le32(S)]);
      const ours = await devicePaths(msg, sig, mixedPk);
      assert.equal(ours, opensslVerify(msg, sig, mixedPk), `r=${r}`);
      // Cofactorless: valid exactly when [k]T is the identity (k ≡ 0 mod 8).
      assert.equal(ours, k % 8n === 0n, `r=${r}, k mod 8 = ${k % 8n}`);
      if (!ours) rejected++;
    }
    assert.ok(rejected > 0);
  });

  it('R written non-canonically (y + p) is rejected on both paths', async (t) => {
    // With S = k·a, [S]B - [k]A is the identity, whatever k is. Written canonically
    // (y = 1) that is a valid signature; written as y = 1 + p (the only other 255-bit
    // encoding of the same point) it must fail: a verifier that reduced y mod p, or
    // compared points instead of encodings, would accept it.
    const secret = privateKey.export({ format: 'jwk' }).d!;
    const a = ed25519.utils.getExtendedPublicKey(Buffer.from(secret, 'base64url')).scalar;
    const forR = (rBytes: Uint8Array): Uint8Array => {
      const k = fromLe(createHash('sha512').update(rBytes).update(pk).update(msg).digest()) % L;
      return new Uint8Array([...rBytes, ...le32((k * a) % L)]);
    };
    const canonical = forR(le32(1n));
    assert.equal(await devicePaths(msg, canonical, pk), true);
    // R is the identity (small order): newer OpenSSL (Node.js 24's) refuses even the
    // canonical form, older accepted it; printed, not asserted.
    t.diagnostic(`OpenSSL accepts the canonical form: ${opensslVerify(msg, canonical, pk)}`);
    const nonCanonical = forR(le32(2n ** 255n - 19n + 1n));
    assert.equal(await devicePaths(msg, nonCanonical, pk), false);
    assert.equal(opensslVerify(msg, nonCanonical, pk), false);
    assert.equal(await devicePaths(msg, good, pk), true);
  });
});
