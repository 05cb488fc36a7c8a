/**
 * The copying batch writer on real files: content and order over random chunkings,
 * backpressure, a start position (resume), and write errors surfacing.
 */
import { strict as assert } from 'node:assert';
import { randomBytes, randomInt } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BatchWriter } from '../../src/transport/download/batch-writer.js';
import { useTempDir } from '../helpers/tree.js';

describe('BatchWriter', () => {
  const tmp = useTempDir('ks-batch-', 'all');

  it('writes every byte in order, whatever the chunking, honouring "full"', async () => {
    for (let round = 0; round < 10; round++) {
      const data = randomBytes(randomInt(0, 300_000));
      const path = join(tmp.dir, `out-${round}`);
      const handle = await open(path, 'w+');
      try {
        const writer = new BatchWriter(handle, 0, 8192);
        let fulls = 0;
        for (let at = 0; at < data.length;) {
          const n = Math.min(data.length - at, randomInt(0, 30_000));
          const chunk = Buffer.from(data.subarray(at, at + n));
          if (writer.enqueue(chunk)) {
            fulls++;
            await writer.ready();
          }
          // Taken (copied): scribbling over it must not change what is written.
          chunk.fill(0);
          at += n;
        }
        await writer.flush();
        assert.deepEqual(await readFile(path), data, `round ${round}`);
        if (data.length > 100_000) assert.ok(fulls > 0, 'never asked the caller to wait');
      } finally {
        await handle.close();
      }
    }
  });

  it('keeps chunks in order when the caller ignores "full", and starts at a position', async () => {
    const head = randomBytes(5000);
    const data = randomBytes(200_000);
    const path = join(tmp.dir, 'resume');
    await writeFile(path, head);
    const handle = await open(path, 'r+');
    try {
      const writer = new BatchWriter(handle, head.length, 4096);
      for (let at = 0; at < data.length; at += 3000) writer.enqueue(data.subarray(at, at + 3000));
      await writer.flush();
      assert.deepEqual(await readFile(path), Buffer.concat([head, data]));
    } finally {
      await handle.close();
    }
  });

  it('starts an fdatasync every syncEveryBytes written, one at a time', async () => {
    const path = join(tmp.dir, 'synced');
    const handle = await open(path, 'w+');
    let syncs = 0;
    // The real handle, with its datasync calls counted.
    const counted = new Proxy(handle, {
      get(target, prop, receiver) {
        if (prop === 'datasync') {
          return () => {
            syncs++;
            return target.datasync();
          };
        }
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      },
    });
    try {
      const data = randomBytes(1 << 20);
      const writer = new BatchWriter(counted, 0, 16384, 128 * 1024);
      for (let at = 0; at < data.length; at += 16384)
        await writer.push(data.subarray(at, at + 16384));
      await writer.flush();
      assert.deepEqual(await readFile(path), data);
      // 1 MiB in 128 KiB steps: up to 8, fewer when one was still running.
      assert.ok(syncs >= 1 && syncs <= 8, `${syncs} syncs`);
      const none = new BatchWriter(counted, 0, 16384);
      syncs = 0;
      for (let at = 0; at < data.length; at += 16384)
        await none.push(data.subarray(at, at + 16384));
      await none.flush();
      assert.equal(syncs, 0);
    } finally {
      await handle.close();
    }
  });

  it('reports a write error from ready() or flush()', async () => {
    const path = join(tmp.dir, 'readonly');
    await writeFile(path, '');
    const handle = await open(path, 'r');
    try {
      const writer = new BatchWriter(handle, 0, 4096);
      for (let i = 0; i < 8; i++) writer.enqueue(Buffer.alloc(4096, i));
      await assert.rejects(writer.flush(), { code: 'EBADF' });
      await assert.rejects(writer.ready(), { code: 'EBADF' });
    } finally {
      await handle.close();
    }
  });
});
