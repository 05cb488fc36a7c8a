/**
 * The read-back that trails a download (src/slots/read-back.ts, TrailingReadBack) and
 * install's use of it (slot-files.ts): it digests every byte of the file as it is on
 * the medium, a resumed prefix included; install takes it only for the very file it
 * installs, and a read-back that disagrees with the signed digest stops the install
 * with the slot unbootable. The medium tests use ext4 on loop devices (root).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { KubesoloError } from '../../src/errors.js';
import { readBackSha256, TrailingReadBack } from '../../src/fs/read-back.js';
import { INCOMING_DIR, installSlotDir, slotDirBootable } from '../../src/slots/slot-files.js';
import { downloadToFile } from '../../src/transport/download/download.js';
import { sha256, startServer, staticFile, truncated } from '../helpers/http-server.js';
import { loopSkipReason, makeLoopDisk, uniqueLabel, type LoopDisk } from '../helpers/loop.js';
import { flipOnDevice, stageImage } from './fixtures.js';
import { silentLogger } from '../../src/log.js';
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';
import { hasCode } from '../helpers/rejects.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

describe('TrailingReadBack', () => {
  const tmp = useTempDir('ks-readback-', 'all');

  it('follows a file written in pieces and digests all of it, whatever the sizes', async () => {
    for (const size of [0, 5, MiB, 2 * MiB, 3 * MiB + 12_345]) {
      const data = randomBytes(size);
      const path = tmp.path(`f-${size}`);
      const handle = await open(path, 'w');
      const reader = new TrailingReadBack(path);
      try {
        for (let at = 0; at < size;) {
          const n = Math.min(size - at, randomInt(1, 900_000));
          await handle.write(data, at, n, at);
          at += n;
          await handle.datasync();
          reader.advance(at);
        }
        const r = await reader.finish();
        assert.equal(r.sha256, sha256(data), `${size} bytes`);
        assert.equal(r.size, size);
      } finally {
        await reader.close();
        await handle.close();
      }
    }
  });

  it('a missing file is its errno, for the caller to report', async () => {
    await assert.rejects(readBackSha256(tmp.path('nope')), { code: 'ENOENT' });
  });
});

describe('install and the read-back done while downloading', () => {
  const tmp = useTempDir('ks-readback-install-', 'all');

  /** A slot directory with a verified image waiting in its incoming directory. */
  async function waiting(name: string) {
    const slot = tmp.path(name);
    const incoming = join(slot, INCOMING_DIR);
    await mkdir(incoming, { recursive: true });
    const staged = await stageImage(incoming, 'v2.0.0');
    return { slot, ...staged };
  }

  it('a read-back of the installed file that disagrees with the signed digest stops the install', async () => {
    const { slot, image, digests } = await waiting('bad');
    // What the download's reader would report had the medium lost a bit.
    const read = await readBackSha256(image.files.initramfs);
    const readBack = { initramfs: { ...read, sha256: '0'.repeat(64) } };
    await assert.rejects(
      installSlotDir(slot, { ...image, readBack }, digests, { log: silentLogger }),
      (err: unknown) => {
        assert.ok(err instanceof KubesoloError);
        assertCode(err.code, 'SLOT_VERIFY_FAILED');
        assert.equal(err.details.phase, 'readback');
        return true;
      },
    );
    assert.equal(await slotDirBootable(slot), false);
  });

  it('a read-back of another file (another inode) is not taken: install reads the file itself', async () => {
    const { slot, image, digests } = await waiting('other');
    const elsewhere = tmp.path('elsewhere');
    await writeFile(elsewhere, randomBytes(256 << 10));
    const other = await readBackSha256(elsewhere);
    // Claims the right digest for a file that is not the one installed.
    const readBack = { initramfs: { ...other, sha256: digests.initramfs } };
    await installSlotDir(slot, { ...image, readBack }, digests, { log: silentLogger });
    assert.equal(await slotDirBootable(slot), true);

    const { slot: slot2, image: image2, digests: digests2 } = await waiting('other2');
    const wrong = { initramfs: { ...other, sha256: '0'.repeat(64) } };
    await installSlotDir(slot2, { ...image2, readBack: wrong }, digests2, { log: silentLogger });
    assert.equal(await slotDirBootable(slot2), true, 'a foreign read-back cannot fail it either');
  });
});

const skip = await loopSkipReason();
if (skip) console.log(`# read-back medium tests skipped: ${skip}`);

describe('read-back from the medium (ext4 on a loop device)', { skip }, () => {
  let work: string;
  let mnt: string;
  let disk: LoopDisk;
  const dispatcher = new Agent();
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ks-readback-medium-'));
    mnt = join(work, 'mnt');
    await mkdir(mnt);
    disk = await makeLoopDisk({ label: uniqueLabel('KTRB'), sizeMiB: 64, dir: work });
    await exec('mount', [disk.device, mnt]);
  });
  after(async () => {
    await exec('umount', [mnt]).catch(() => undefined);
    await disk.cleanup();
    await dispatcher.close();
    await rm(work, { recursive: true, force: true });
  });

  it('reads the device, not the page cache: a bit flipped behind a warm cache changes its digest', async () => {
    const data = randomBytes(3 * MiB);
    const path = join(mnt, 'image');
    const handle = await open(path, 'w');
    await handle.write(data, 0, data.length, 0);
    await handle.datasync();
    await handle.close();
    flipOnDevice(disk.device, path, 4096 + 17);
    const reader = new TrailingReadBack(path);
    try {
      reader.advance(data.length);
      const r = await reader.finish();
      assert.equal(r.direct, true);
      assert.equal(r.size, data.length);
      assert.notEqual(r.sha256, sha256(data), 'the read-back hashed the page cache');
    } finally {
      await reader.close();
    }
  });

  it('a resumed download reads its prefix back from the medium too: a bit lost there stops the install', async () => {
    const body = randomBytes(6 * MiB + 333);
    const cut = 3 * MiB;
    const srv = await startServer({});
    try {
      const slot = join(mnt, 'slot');
      const incoming = join(slot, INCOMING_DIR);
      await mkdir(incoming, { recursive: true });
      const dest = join(incoming, 'kubesolo-os.gz');
      const options = {
        url: srv.url('/img'),
        dest,
        dispatcher,
        expectedSha256: sha256(body),
        expectedSize: body.length,
        readBack: true,
        limits: { retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 10 }, idleTimeoutMs: 2000 },
        log: silentLogger,
      };
      // An earlier run: killed after `cut` bytes (here, the connection drops).
      srv.route('/img', truncated(body, cut));
      await assert.rejects(downloadToFile(options), hasCode('DOWNLOAD_TRUNCATED', 1));
      // The medium loses a bit of the partial file behind the page cache.
      flipOnDevice(disk.device, `${dest}.part`, 1000);
      srv.route('/img', staticFile(body));
      const r = await downloadToFile(options);
      assert.equal(r.resumedFrom, cut);
      // The stream digest re-hashes the prefix through the cache, so it still matches;
      // the read-back went to the medium.
      assert.equal(r.sha256, sha256(body));
      assert.ok(r.readBack, 'no read-back result');
      assert.equal(r.readBack.size, body.length);
      assert.equal(r.readBack.direct, true);
      assert.notEqual(r.readBack.sha256, sha256(body));

      const kernel = join(incoming, 'vmlinuz');
      const kernelBytes = randomBytes(4096);
      await writeFile(kernel, kernelBytes);
      await assert.rejects(
        installSlotDir(
          slot,
          {
            files: { vmlinuz: kernel, initramfs: dest },
            version: 'v2.0.0',
            readBack: { initramfs: r.readBack },
          },
          { vmlinuz: sha256(kernelBytes), initramfs: r.sha256 },
          { log: silentLogger },
        ),
        hasCode('SLOT_VERIFY_FAILED', 4),
      );
      assert.equal(await slotDirBootable(slot), false);
    } finally {
      await srv.close();
    }
  });

  it('a fresh download reads back to the digest it streamed', async () => {
    const body = randomBytes(40 * MiB + 5);
    const srv = await startServer({});
    try {
      srv.route('/img', staticFile(body));
      const r = await downloadToFile({
        log: silentLogger,
        url: srv.url('/img'),
        dest: join(mnt, 'fresh'),
        dispatcher,
        expectedSha256: sha256(body),
        expectedSize: body.length,
        readBack: true,
      });
      assert.deepEqual(
        { sha256: r.readBack?.sha256, size: r.readBack?.size, direct: r.readBack?.direct },
        { sha256: sha256(body), size: body.length, direct: true },
      );
    } finally {
      await srv.close();
    }
  });
});
