/**
 * `kubesolo-release repack` (src/transport/delta/repack.ts): the output unpacks to the same files
 * as the input, by our proof and by an independent one (GNU cpio extracting both into
 * directories compared file by file), whatever the input's compression and order; the
 * form is what the index reuses (units, fixed mtimes, stable inodes); what it cannot
 * keep equal it refuses.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { cutImage, detectCutParams } from '../../../src/transport/delta/cut.js';
import { readInitramfs } from '../../../src/transport/delta/initramfs.js';
import { walkNewc } from '../../../src/transport/delta/newc.js';
import { repackImage } from '../../../src/transport/delta/repack.js';
import { proveEquivalent } from '../../../src/transport/delta/repack-proof.js';
import { rejectsWithCode, throwsWithCode } from '../../helpers/rejects.js';
import { isRoot, toolSkipReason } from '../../helpers/require-tool.js';
import { EARLY, newcArchive, releaseEntries, releaseImage, type FixtureEntry } from './fixtures.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'delta-repack-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function repack(image: Buffer, name: string, options = {}) {
  const input = join(dir, `${name}.in`);
  const output = join(dir, `${name}.out`);
  writeFileSync(input, image);
  const result = await repackImage(input, output, options);
  return { input, output, result, bytes: readFileSync(output) };
}

/** What a tree holds, path by path, as the kernel would have made it (ino only for links). */
function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      let what = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
      if (st.isFile())
        what += ` ${createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex')}`;
      if (st.isSymbolicLink()) what += ` -> ${readlinkSync(join(root, path))}`;
      if (st.isCharacterDevice() || st.isBlockDevice()) what += ` dev ${st.rdev}`;
      if (st.isFile() && st.nlink > 1) {
        // The first path of a hard-link group names the group.
        if (!inodes.has(st.ino)) inodes.set(st.ino, path);
        what += ` link-of ${inodes.get(st.ino)}`;
      }
      out.set(path, what);
      if (st.isDirectory()) walk(path);
    }
  };
  walk('');
  return out;
}

/** Extract every archive of an image with GNU cpio (the early one raw, the rest gunzip'd). */
function extractWithCpio(image: Buffer, into: string): void {
  const { end } = walkNewc(image, 0);
  execFileSync('mkdir', ['-p', into]);
  const run = (archive: Buffer) =>
    execFileSync('cpio', ['-idm', '--quiet', '--no-absolute-filenames'], {
      cwd: into,
      input: archive,
    });
  run(image.subarray(0, end));
  if (end < image.length) run(gunzipSync(image.subarray(end)));
}

const cpioSkip = toolSkipReason(['cpio'], 'cpio');

describe('repack', () => {
  it(
    'keeps every file, mode, owner, content, link and device node of a gzip image (proof and GNU cpio agree)',
    {
      skip: cpioSkip || (!isRoot && 'needs root: cpio makes device nodes and owners only as root'),
    },
    async () => {
      const image = releaseImage(2, 'reversed');
      const { bytes, result } = await repack(image, 'gzip');
      assert.equal(result.proof.devices, 1);
      assert.equal(result.proof.symlinks, 1);
      // Independent: GNU cpio unpacks input and output to the same tree.
      extractWithCpio(image, join(dir, 'x-in'));
      extractWithCpio(bytes, join(dir, 'x-out'));
      assert.deepEqual(describeTree(join(dir, 'x-out')), describeTree(join(dir, 'x-in')));
    },
  );

  it("keeps hard-link groups, moving the data to the group's last entry", async () => {
    const data = Buffer.from('linked content\n'.repeat(100));
    // GNU cpio's order: the data on the last link; here on the first in sorted order, to be moved.
    const entries: FixtureEntry[] = [
      { name: '.', mode: 0o040755 },
      { name: 'b', mode: 0o100644, ino: 77, nlink: 2 },
      { name: 'a', mode: 0o100644, ino: 77, nlink: 2, data },
      { name: 'c', mode: 0o100644, data: Buffer.from('alone') },
    ];
    const { bytes, result } = await repack(gzipSync(newcArchive(entries)), 'links');
    assert.equal(result.proof.hardLinkGroups, 1);
    const out = readInitramfs(bytes).entries;
    const a = out.find((e) => e.name === 'a')!;
    const b = out.find((e) => e.name === 'b')!;
    assert.equal(a.header.ino, b.header.ino);
    assert.equal(a.data.length, 0);
    assert.deepEqual(b.data, data);
    assert.equal(b.header.fileSize, data.length);
    assert.notEqual(out.find((e) => e.name === 'c')!.header.ino, a.header.ino);
  });

  it('reads zstd and plain cpio images too, and keeps the early archive first and byte for byte', async () => {
    const main = newcArchive(releaseEntries(1));
    for (const [name, image] of [
      ['zstd', Buffer.concat([EARLY, zstdCompressSync(main)])],
      ['plain', Buffer.concat([EARLY, main])],
    ] as const) {
      const { bytes } = await repack(image, name);
      assert.deepEqual(bytes.subarray(0, EARLY.length), EARLY, name);
      assert.equal(bytes[EARLY.length], 0x1f, `${name}: then one gzip stream`);
    }
  });

  it('writes the form the index reuses: sorted, fixed mtimes, stable inodes, units detected at level 6', async () => {
    const { output, bytes } = await repack(releaseImage(1, 'reversed'), 'form', { mtime: 1234 });
    const entries = readInitramfs(bytes).entries;
    assert.deepEqual(
      entries.map((e) => e.name),
      [...entries.map((e) => e.name)].sort((x, y) =>
        Buffer.compare(Buffer.from(x), Buffer.from(y)),
      ),
    );
    assert.ok(entries.every((e) => e.header.mtime === 1234));
    // An added file does not change the inode numbers of the others.
    const again = await repack(releaseImage(2), 'form2', { mtime: 1234 });
    const ino2 = new Map(readInitramfs(again.bytes).entries.map((e) => [e.name, e.header.ino]));
    for (const e of entries) assert.equal(ino2.get(e.name), e.header.ino, e.name);
    assert.deepEqual(await detectCutParams(output), { mode: 'deflate', avgLog2: 18, level: 6 });
  });

  it('makes unchanged files unchanged pieces: a point release shares most of its pieces', async () => {
    const one = await repack(releaseImage(1), 'share1');
    const two = await repack(releaseImage(2, 'reversed'), 'share2');
    const params = await detectCutParams(two.output);
    const a = await cutImage(one.output, params);
    const b = await cutImage(two.output, params);
    const held = new Set(a.pieces.map((p) => p.sha256));
    const shared = b.pieces.filter((p) => held.has(p.sha256)).reduce((s, p) => s + p.length, 0);
    assert.ok(shared / b.imageSize > 0.6, `shared ${shared} of ${b.imageSize}`);
    // The same image, repacked from a build with another order, is the same bytes.
    const twoSorted = await repack(releaseImage(2, 'sorted'), 'share2s');
    assert.deepEqual(twoSorted.bytes, two.bytes);
  });

  it('refuses what it cannot keep equal, with a reason code', async () => {
    // Each is the input's or the caller's mistake: a usage error, exit 2.
    const refusal = (image: Buffer, code: string, options = {}) =>
      rejectsWithCode(repack(image, `bad-${code}`, options), code, 2);
    const dup = newcArchive([
      { name: 'a', mode: 0o100644, data: Buffer.from('1') },
      { name: 'a', mode: 0o100644, data: Buffer.from('2') },
    ]);
    await refusal(gzipSync(dup), 'REPACK_DUPLICATE_PATH');
    const twice = newcArchive([
      { name: 'a', mode: 0o100644, ino: 5, nlink: 2, data: Buffer.from('1') },
      { name: 'b', mode: 0o100644, ino: 5, nlink: 2, data: Buffer.from('2') },
    ]);
    await refusal(gzipSync(twice), 'REPACK_HARDLINK_UNSUPPORTED');
    // xz (or anything else) after the early archive: not read, not guessed at.
    await refusal(
      Buffer.concat([EARLY, Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])]),
      'REPACK_INPUT_UNSUPPORTED',
    );
    await refusal(gzipSync(Buffer.from('not a cpio archive')), 'REPACK_INPUT_UNSUPPORTED');
    await refusal(releaseImage(1), 'REPACK_OPTION_INVALID', { level: 10 });
  });

  it('the proof refuses an output that differs in a mode, a content or the early archive', () => {
    const input = readInitramfs(releaseImage(1));
    const tampered = (change: (e: FixtureEntry[]) => void, early = EARLY) => {
      const entries = releaseEntries(1);
      change(entries);
      return Buffer.concat([early, gzipSync(newcArchive(entries))]);
    };
    const notEquivalent = (out: Buffer) =>
      throwsWithCode(() => proveEquivalent(input, out), 'REPACK_NOT_EQUIVALENT', 1);
    proveEquivalent(
      input,
      tampered(() => undefined),
    ); // the untouched output passes
    notEquivalent(tampered((e) => (e.find((x) => x.name === 'bin/busybox')!.mode = 0o100700)));
    notEquivalent(
      tampered(
        (e) => (e.find((x) => x.name === 'etc/os-release')!.data = Buffer.from('NAME=other\n')),
      ),
    );
    notEquivalent(tampered((e) => (e.find((x) => x.name === 'dev/console')!.rdevMinor = 2)));
    notEquivalent(
      tampered((e) =>
        e.splice(
          e.findIndex((x) => x.name === 'usr/bin/tool3'),
          1,
        ),
      ),
    );
    // A child before its directory.
    notEquivalent(
      tampered((e) =>
        e.push(
          e.splice(
            e.findIndex((x) => x.name === 'usr'),
            1,
          )[0]!,
        ),
      ),
    );
    const otherEarly = Buffer.from(EARLY);
    otherEarly[EARLY.length - 600] = otherEarly[EARLY.length - 600]! ^ 1;
    notEquivalent(tampered(() => undefined, otherEarly));
  });

  it(
    'writes a gzip stream that gzip -t accepts after the early archive',
    { skip: toolSkipReason(['gzip'], 'gzip') },
    async () => {
      const { output } = await repack(releaseImage(1), 'gz-t');
      const r = spawnSync('sh', [
        '-c',
        `tail -c +${EARLY.length + 1} "$1" | gzip -t`,
        'sh',
        output,
      ]);
      assert.equal(r.status, 0, r.stderr.toString());
    },
  );
});
