import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeyObject } from 'node:crypto';
import {
  bytesToHex,
  parsePublicKey,
  publicKeyBytes,
  publicKeyObject,
} from '../../src/crypto/keys.js';
import { generateKeyPair, loadPrivateKey, writeKeyPair } from '../../src/release/keys.js';
import { encodeSignature } from '../../src/crypto/keys.js';
import { signBytes, signFile, verifyBytes } from '../../src/release/sign.js';
import { parseDuration } from '../../src/release/duration.js';
import { hasCode } from '../helpers/rejects.js';
import { opensslVerify } from '../helpers/openssl-verify.js';

/** The agent's public key format, read by the one key codec, as a KeyObject for verifyBytes. */
const parsePublicKeyHex = (text: string) => publicKeyObject(parsePublicKey(text));
const publicKeyHex = (key: KeyObject) => bytesToHex(publicKeyBytes(key));

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-keys-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function openssl(args: string[]): Buffer {
  return execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('RFC 8032 §7.1 test vectors', () => {
  // TEST 2 of RFC 8032 §7.1: one-byte message 0x72.
  const secret = '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb';
  const pub = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';
  const sig =
    '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da' +
    '085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00';
  // PKCS#8 wrapper for a raw Ed25519 seed (RFC 8410 §7).
  const key = createPrivateKey({
    key: Buffer.concat([
      Buffer.from('302e020100300506032b657004220420', 'hex'),
      Buffer.from(secret, 'hex'),
    ]),
    format: 'der',
    type: 'pkcs8',
  });

  it('derives the public key and signs exactly as the RFC says', () => {
    assert.equal(publicKeyHex(key), pub);
    assert.equal(signBytes(key, Buffer.from([0x72])).toString('hex'), sig);
  });

  it('verifies the RFC signature with the hex public key, and rejects a changed message', () => {
    const pk = parsePublicKeyHex(pub);
    assert.equal(verifyBytes(pk, Buffer.from([0x72]), Buffer.from(sig, 'hex')), true);
    assert.equal(verifyBytes(pk, Buffer.from([0x73]), Buffer.from(sig, 'hex')), false);
    assert.equal(verifyBytes(pk, Buffer.from([0x72]), Buffer.from(sig, 'hex').subarray(1)), false);
  });
});

describe('keys', () => {
  it('writes a 0600 PKCS#8 private key and a 64-hex public key that openssl agrees with', async () => {
    const d = join(dir, 'k1');
    const k = await writeKeyPair(d);
    assert.equal((await stat(k.privateKeyPath)).mode & 0o777, 0o600);
    const pubText = await readFile(k.publicKeyPath, 'utf8');
    assert.match(pubText, /^[0-9a-f]{64}\n$/);
    assert.equal(pubText.trim(), k.publicKeyHex);
    assert.match(await readFile(k.privateKeyPath, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    // Independent implementation: openssl reads the PEM and derives the same raw key.
    const der = openssl(['pkey', '-in', k.privateKeyPath, '-pubout', '-outform', 'DER']);
    assert.equal(der.subarray(der.length - 32).toString('hex'), k.publicKeyHex);
  });

  it('refuses to overwrite without force, and replaces the pair with force', async () => {
    const d = join(dir, 'k2');
    const first = await writeKeyPair(d);
    await assert.rejects(writeKeyPair(d), hasCode('KEY_EXISTS', 2));
    assert.equal((await readFile(first.publicKeyPath, 'utf8')).trim(), first.publicKeyHex);
    const second = await writeKeyPair(d, { force: true });
    assert.notEqual(second.publicKeyHex, first.publicKeyHex);
    const loaded = await loadPrivateKey(second.privateKeyPath);
    assert.equal(publicKeyHex(loaded), second.publicKeyHex);
  });

  it('rejects a missing, garbled or non-Ed25519 private key with distinct codes', async () => {
    await assert.rejects(loadPrivateKey(join(dir, 'nope')), hasCode('KEY_UNREADABLE', 2));
    const garbled = join(dir, 'garbled.pem');
    await writeFile(garbled, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    await assert.rejects(loadPrivateKey(garbled), hasCode('KEY_INVALID', 2));
    const ec = join(dir, 'ec.pem');
    await writeFile(
      ec,
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']),
    );
    await assert.rejects(loadPrivateKey(ec), hasCode('KEY_NOT_ED25519', 2));
    const der = join(dir, 'k.der');
    const g = generateKeyPair();
    await writeFile(der, g.privateKey.export({ type: 'pkcs8', format: 'der' }));
    assert.equal(publicKeyHex(await loadPrivateKey(der)), g.publicKeyHex);
  });

  it('parses public keys with surrounding whitespace and rejects bad ones', () => {
    const g = generateKeyPair();
    assert.equal(
      publicKeyHex(parsePublicKeyHex(`  ${g.publicKeyHex.toUpperCase()}\n`)),
      g.publicKeyHex,
    );
    for (const bad of ['', 'abc', g.publicKeyHex + '00', g.publicKeyHex.replace(/^./, 'g')]) {
      assert.throws(() => parsePublicKeyHex(bad), hasCode('PUBKEY_INVALID', 2));
    }
  });
});

describe('sign', () => {
  it('writes hex (exactly 128 chars) and raw (64 bytes) signatures that openssl verifies', async () => {
    const k = await writeKeyPair(join(dir, 'k3'));
    const key = await loadPrivateKey(k.privateKeyPath);
    const pubPem = join(dir, 'k3', 'pub.pem');
    openssl(['pkey', '-in', k.privateKeyPath, '-pubout', '-out', pubPem]);
    const file = join(dir, 'image.bin');
    await writeFile(file, Buffer.from('kernel bytes \x00\x01\x02'.repeat(1000), 'binary'));

    const hex = await signFile(key, file);
    const hexText = await readFile(hex.sigPath, 'utf8');
    assert.match(hexText, /^[0-9a-f]{128}$/);
    const raw = await signFile(key, file, { encoding: 'raw', sigPath: join(dir, 'image.raw.sig') });
    const rawBytes = await readFile(raw.sigPath);
    assert.equal(rawBytes.length, 64);
    assert.equal(rawBytes.toString('hex'), hexText);

    // openssl pkeyutl -rawin: pure Ed25519 over the file bytes, an independent verifier.
    assert.match(opensslVerify(pubPem, file, raw.sigPath), /Signature Verified Successfully/);
    // A changed file must fail under openssl too.
    const changed = join(dir, 'image2.bin');
    await writeFile(changed, Buffer.concat([await readFile(file), Buffer.from([0])]));
    assert.throws(() => opensslVerify(pubPem, changed, raw.sigPath));
  });

  it('verifies a signature made by openssl (the other direction)', async () => {
    const k = await writeKeyPair(join(dir, 'k4'));
    const file = join(dir, 'msg.txt');
    await writeFile(file, 'latest.json bytes');
    const sigPath = join(dir, 'msg.sig');
    openssl([
      'pkeyutl',
      '-sign',
      '-inkey',
      k.privateKeyPath,
      '-rawin',
      '-in',
      file,
      '-out',
      sigPath,
    ]);
    const sig = await readFile(sigPath);
    assert.equal(verifyBytes(parsePublicKeyHex(k.publicKeyHex), await readFile(file), sig), true);
    // Ed25519 is deterministic (RFC 8032 §5.1.6): ours equals openssl's byte for byte.
    assert.deepEqual(signBytes(await loadPrivateKey(k.privateKeyPath), await readFile(file)), sig);
  });

  it('reports an unreadable input with FILE_UNREADABLE', async () => {
    const key = generateKeyPair().privateKey;
    await assert.rejects(signFile(key, join(dir, 'missing')), hasCode('FILE_UNREADABLE', 1));
    await assert.rejects(
      signFile(key, join(dir, 'msg.txt'), { sigPath: join(dir, 'no', 'such', 'dir.sig') }),
      hasCode('SIGNATURE_WRITE_FAILED', 1),
    );
  });

  it('encodes signatures in the two forms of docs/design.md §3.4', () => {
    const sig = Buffer.alloc(64, 0xab);
    assert.equal(encodeSignature(sig, 'hex').toString(), 'ab'.repeat(64));
    assert.deepEqual(encodeSignature(sig, 'raw'), sig);
  });
});

describe('durations', () => {
  it('parses units and rejects junk', () => {
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('15m'), 900);
    assert.equal(parseDuration('12h'), 43_200);
    assert.equal(parseDuration('30d'), 2_592_000);
    assert.equal(parseDuration('2w'), 1_209_600);
    for (const bad of ['', '30', 'd', '0d', '-1d', '1.5d', '30y']) {
      assert.throws(() => parseDuration(bad), hasCode('INVALID_DURATION', 2));
    }
  });
});
