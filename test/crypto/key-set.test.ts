/**
 * Key sets (src/crypto/key-set.ts): several trusted keys in one file or a directory of
 * `*.pub` files, bounded reads, malformed lines named by file and line.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadKeySet, MAX_KEY_FILES } from '../../src/crypto/key-set.js';
import {
  bytesToHex,
  keyFingerprint,
  parsePublicKey,
  publicKeyBytes,
} from '../../src/crypto/keys.js';
import { hasCode, hasReason } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

const publicKeyHex = (key: KeyObject) => bytesToHex(publicKeyBytes(key));
const hexKey = () => publicKeyHex(generateKeyPairSync('ed25519').privateKey);
const [k1, k2, k3] = [hexKey(), hexKey(), hexKey()];

describe('key sets', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-keyset-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const hexes = (keys: { key: Uint8Array }[]) => keys.map((k) => bytesToHex(k.key));

  it('reads a one-key file of the old format as a set of one', async () => {
    await writeFile(join(dir, 'update.pub'), `  ${k1.toUpperCase()}\n`);
    const keys = await loadKeySet(join(dir, 'update.pub'));
    assert.deepEqual(hexes(keys), [k1]);
    assert.equal(keys[0]!.fingerprint, keyFingerprint(parsePublicKey(k1)));
    assert.equal(keys[0]!.source, `${join(dir, 'update.pub')}:1`);
  });

  it('reads one key per line with comments and blank lines, duplicates once', async () => {
    await writeFile(
      join(dir, 'update.pub'),
      `# release keys\n\n${k1}  # 2026 key, retire after the rotation\r\n${k2}\n${k1}\n`,
    );
    assert.deepEqual(hexes(await loadKeySet(join(dir, 'update.pub'))), [k1, k2]);
  });

  it('reads every *.pub file of a directory, in name order, and nothing else', async () => {
    const keys = join(dir, 'keys.d');
    await mkdir(keys);
    await writeFile(join(keys, 'b-2027.pub'), `${k2}\n`);
    await writeFile(join(keys, 'a-2026.pub'), `${k1}\n${k3}\n`);
    await writeFile(join(keys, 'README'), 'not a key\n');
    await writeFile(join(keys, 'a-2026.pub~'), 'editor backup\n');
    await mkdir(join(keys, 'old.pub'));
    assert.deepEqual(hexes(await loadKeySet(keys)), [k1, k3, k2]);
  });

  it('names the file and line of a malformed key (PUBKEY_INVALID)', async () => {
    const file = join(dir, 'update.pub');
    await writeFile(file, `${k1}\n# next\n${k2.slice(0, 60)}\n`);
    await assert.rejects(loadKeySet(file), (err: any) => {
      hasCode('PUBKEY_INVALID', 2)(err);
      assert.equal(err.details.line, 3);
      assert.match(err.message, new RegExp(`${file}:3: not an Ed25519 public key`));
      return true;
    });
    // A small-order point is not a key either.
    await writeFile(file, `${'00'.repeat(32)}\n`);
    await assert.rejects(loadKeySet(file), hasReason('PUBKEY_INVALID'));
  });

  it('a set without keys is PUBKEY_EMPTY', async () => {
    await writeFile(join(dir, 'update.pub'), '# no keys yet\n\n');
    await assert.rejects(loadKeySet(join(dir, 'update.pub')), hasReason('PUBKEY_EMPTY'));
    await mkdir(join(dir, 'empty.d'));
    await assert.rejects(loadKeySet(join(dir, 'empty.d')), hasReason('PUBKEY_EMPTY'));
  });

  it('reads are bounded: a large file, too many files, a missing path are PUBKEY_UNREADABLE', async () => {
    await writeFile(join(dir, 'big.pub'), `${k1}\n${'#'.repeat(5000)}\n`);
    await assert.rejects(loadKeySet(join(dir, 'big.pub')), hasReason('PUBKEY_UNREADABLE'));
    const many = join(dir, 'many.d');
    await mkdir(many);
    for (let i = 0; i <= MAX_KEY_FILES; i++) await writeFile(join(many, `${i}.pub`), `${k1}\n`);
    await assert.rejects(loadKeySet(many), hasReason('PUBKEY_UNREADABLE'));
    await assert.rejects(loadKeySet(join(dir, 'missing.pub')), (err: any) => {
      assertCode(err.code, 'PUBKEY_UNREADABLE');
      assert.equal(err.details.errno, 'ENOENT');
      return true;
    });
  });
});

describe('streaming verification against a key set', () => {
  it('accepts a signature by any key of the set, refuses one by none', async () => {
    const { createKeySetVerifier } = await import('../../src/crypto/key-set-verifier.js');
    const { sign } = await import('node:crypto');
    const { hexToBytes } = await import('../../src/crypto/keys.js');
    const pairs = [0, 1, 2].map(() => generateKeyPairSync('ed25519'));
    const raw = pairs.map((p) => hexToBytes(publicKeyHex(p.privateKey))!);
    const message = Buffer.alloc(300_000, 7);
    const signature = sign(null, message, pairs[1]!.privateKey);
    const run = async (keys: Uint8Array[]) => {
      const v = createKeySetVerifier(signature, keys);
      try {
        for (let i = 0; i < message.length; i += 65_536) {
          if (v.update(message.subarray(i, i + 65_536))) await v.ready();
        }
        return await v.verify();
      } finally {
        await v.close();
      }
    };
    assert.equal(await run([raw[0]!, raw[1]!]), true);
    assert.equal(await run([raw[1]!]), true);
    assert.equal(await run([raw[0]!, raw[2]!]), false);
  });
});
