/**
 * SHA-512 on a worker thread and the off-thread Ed25519 verifier built on it: digests
 * against node:crypto over random data in random chunk sizes, with tiny slot rings so
 * that the hand-back and backpressure paths run constantly.
 */
import { strict as assert } from 'node:assert';
import { createHash, generateKeyPairSync, randomBytes, randomInt, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { createOffThreadEd25519Verifier } from '../../src/crypto/ed25519-offthread.js';
import { Sha512Worker } from '../../src/crypto/sha512-worker.js';
import { KubesoloError } from '../../src/errors.js';
import { hasReason } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

function randomChunks(data: Buffer, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length;) {
    const n = Math.min(data.length - at, randomInt(0, max + 1));
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

describe('Sha512Worker', () => {
  it('matches node:crypto for random data and chunkings, waiting when asked', async () => {
    for (let round = 0; round < 20; round++) {
      const data = randomBytes(randomInt(0, 200_000));
      const worker = new Sha512Worker(4096, 2);
      try {
        let waits = 0;
        for (const chunk of randomChunks(data, 20_000)) {
          if (worker.update(chunk)) {
            waits++;
            await worker.ready();
          }
        }
        const expected = createHash('sha512').update(data).digest();
        assert.deepEqual(await worker.digest(), expected, `round ${round}, ${data.length} bytes`);
        if (data.length > 3 * 4096) assert.ok(waits > 0, 'two 4 KiB slots never ran out');
      } finally {
        await worker.close();
      }
    }
  });

  it('keeps every byte, in order, when the caller ignores "wait"', async () => {
    const data = randomBytes(1 << 20);
    const worker = new Sha512Worker(8192, 2);
    try {
      let askedToWait = 0;
      for (const chunk of randomChunks(data, 70_000)) if (worker.update(chunk)) askedToWait++;
      assert.ok(askedToWait > 0);
      assert.deepEqual(await worker.digest(), createHash('sha512').update(data).digest());
    } finally {
      await worker.close();
    }
  });

  it('asks to wait once its slots are all with the worker', async () => {
    const worker = new Sha512Worker(4096, 2);
    try {
      assert.equal(worker.update(Buffer.alloc(8192)), false, 'two full slots fit');
      assert.equal(worker.update(Buffer.alloc(1)), true, 'the next byte must wait');
      await worker.ready();
    } finally {
      await worker.close();
    }
  });

  it('rejects what is pending when closed, and takes no more input', async () => {
    const worker = new Sha512Worker(4096, 1);
    worker.update(Buffer.alloc(4096));
    worker.update(Buffer.alloc(4096));
    const pending = assert.rejects(worker.ready(), (err: unknown) => {
      assert.ok(err instanceof KubesoloError);
      assertCode(err.code, 'HASH_WORKER_CLOSED');
      return true;
    });
    await worker.close();
    await worker.close();
    await pending;
    assert.equal(worker.update(Buffer.alloc(1)), true, 'a closed worker takes nothing');
    await assert.rejects(worker.ready(), hasReason('HASH_WORKER_CLOSED'));
    await assert.rejects(worker.digest(), hasReason('HASH_WORKER_CLOSED'));
  });
});

describe('createOffThreadEd25519Verifier', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');

  async function check(message: Buffer, signature: Uint8Array, key: Uint8Array = pub) {
    const v = createOffThreadEd25519Verifier(signature, key);
    try {
      for (const chunk of randomChunks(message, 100_000)) if (v.update(chunk)) await v.ready();
      return await v.verify();
    } finally {
      await v.close();
    }
  }

  it('accepts a node:crypto signature and rejects tampering or another key', async () => {
    const message = randomBytes(700_000);
    const sig = sign(null, message, privateKey);
    assert.equal(await check(message, sig), true);
    const tampered = Buffer.from(message);
    tampered[randomInt(0, tampered.length)]! ^= 0x01;
    assert.equal(await check(tampered, sig), false);
    const otherKey = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
    assert.equal(await check(message, sig, Buffer.from(otherKey, 'base64url')), false);
  });

  it('treats malformed lengths as invalid', async () => {
    assert.equal(await check(randomBytes(10), randomBytes(63)), false);
    assert.equal(await check(randomBytes(10), randomBytes(64), randomBytes(31)), false);
  });
});
