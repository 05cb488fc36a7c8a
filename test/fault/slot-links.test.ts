/**
 * Issue 31, finding 1: no link under the passive slot can make `apply` write, truncate
 * or remove anything outside it. A symbolic link is planted at every path apply
 * creates, opens or removes under slot B (its incoming directory, the partial
 * downloads and their resume records, the verified downloads and their records, the
 * installed files, a stale temp file), pointing at slot A, at a directory or file
 * outside both slots, or at nothing. Where a record can make the agent use the path
 * (resume a partial file, keep a verified download), a matching record is planted too.
 * Each row runs the real agent bundle: it must stage the release from real files of its
 * own, leave slot A and the outside tree byte for byte as they were, and leave no link
 * in slot B.
 *
 * Before the fix, `.incoming -> ../a` emptied slot A and staged "successfully"; a
 * `.part` link with a resumable record truncated the file it pointed at; a verified
 * download that was a link to a copy of the image was hard-linked into slot B as a link.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { logLines, runAgent } from '../helpers/cli.js';
import { makeFaultDevice, sha256File, type FaultDevice } from './harness.js';
import { useTempDir } from '../helpers/tree.js';

/** Every entry under `dir`, links not followed: path, kind, and content or target. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.push(`${rel}/`);
      for (const name of readdirSync(abs).sort()) walk(join(rel, name));
    } else {
      const sha = createHash('sha256').update(readFileSync(abs)).digest('hex');
      out.push(`${rel} ${st.size} ${sha}`);
    }
  };
  walk('.');
  return out;
}

const links = (dir: string): string[] => tree(dir).filter((e) => e.includes(' -> '));

type Target = 'slot A' | 'outside' | 'dangling';
const TARGETS: Target[] = ['slot A', 'outside', 'dangling'];

interface Row {
  /** Path under slot B. */
  path: string;
  /** The entry in slot A a link of kind 'slot A' points at ('' = slot A itself). */
  inA: string;
  /** Plant what makes the agent want to use the path (a matching record). */
  bait?: (f: FaultDevice, linkTarget: string) => Promise<void>;
}

const ART = { vmlinuz: 'vmlinuz', initramfs: 'kubesolo-os.gz' } as const;

async function releaseFacts(f: FaultDevice, file: string) {
  const bytes = await readFile(join(f.releases, 'v1.1.0', file));
  return {
    url: `${f.server.url}v1.1.0/${file}`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
  };
}

/** A resume record that matches the release: the agent would reopen `<file>.part`. */
function resumable(file: string): Row['bait'] {
  return async (f) => {
    const r = await releaseFacts(f, file);
    await writeFile(
      f.dev.path(`slots/b/.incoming/${file}.part.json`),
      JSON.stringify({ url: r.url, sha256: r.sha256, size: r.size, etag: '"planted"' }),
    );
  };
}

/**
 * A verified record that matches the release, and the link pointing at a true copy of
 * the image: the agent would keep `<file>` as verified and install the link.
 */
function keptAsVerified(file: string): Row['bait'] {
  return async (f, linkTarget) => {
    const r = await releaseFacts(f, file);
    // Signed metadata pins the images: no image signature is checked or recorded.
    await writeFile(f.dev.path(`slots/b/.incoming/${file}.verified.json`), JSON.stringify(r));
    if (linkTarget.startsWith('/') && !linkTarget.startsWith('/nonexistent')) {
      await copyFile(join(f.releases, 'v1.1.0', file), linkTarget);
    }
  };
}

const ROWS: Row[] = [
  { path: '.incoming', inA: '' },
  ...Object.values(ART).flatMap((file): Row[] => [
    { path: `.incoming/${file}.part`, inA: file, bait: resumable(file) },
    { path: `.incoming/${file}.part.json`, inA: 'version' },
    { path: `.incoming/${file}`, inA: file, bait: keptAsVerified(file) },
    { path: `.incoming/${file}.verified.json`, inA: 'version' },
    { path: file, inA: file },
  ]),
  { path: 'version', inA: 'version' },
  // A temp file of a writer that is gone: removed as stale, never followed.
  { path: '.version.tmp-4194303-deadbeef', inA: 'version' },
];

describe('finding 31.1: the bait is real', () => {
  // Without a link, each record makes the agent use the file: so the rows below test
  // the link, not a record the agent would have ignored anyway.
  it('a regular verified download with its record is kept, not fetched again', async () => {
    const f = await makeFaultDevice();
    try {
      await mkdir(f.dev.path('slots/b/.incoming'), { recursive: true });
      const kept = f.dev.path('slots/b/.incoming/vmlinuz');
      await keptAsVerified('vmlinuz')?.(f, kept);
      const r = await f.agent(['apply', '--force']);
      assert.equal(r.code, 0, r.stderr);
      const line = logLines(r.stderr).find(
        (l) => l.msg === 'artifact verified' && l.artifact === 'vmlinuz',
      );
      assert.equal(line?.fetched, 0, r.stderr);
    } finally {
      await f.cleanup();
    }
  });

  it('a regular partial download with its record is resumed', async () => {
    const f = await makeFaultDevice();
    try {
      await mkdir(f.dev.path('slots/b/.incoming'), { recursive: true });
      const image = await readFile(join(f.releases, 'v1.1.0', 'vmlinuz'));
      await writeFile(f.dev.path('slots/b/.incoming/vmlinuz.part'), image.subarray(0, 1000));
      await resumable('vmlinuz')?.(f, '');
      const r = await f.agent(['apply', '--force']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        logLines(r.stderr).some((l) => l.msg === 'resuming partial download' && l.from === 1000),
        r.stderr,
      );
    } finally {
      await f.cleanup();
    }
  });
});

describe('finding 31.1: links planted under the passive slot are never followed', () => {
  const tmp = useTempDir('ks-outside-', 'all');

  for (const row of ROWS) {
    for (const kind of TARGETS) {
      it(`slots/b/${row.path} -> ${kind}: staged from real files, slot A and the outside untouched`, async () => {
        const f = await makeFaultDevice();
        const here = tmp.path(`${row.path.replaceAll('/', '_')}-${kind.replace(' ', '')}`);
        try {
          // The outside tree: a directory with a file and a subdirectory, or one file.
          const isDirRow = row.path === '.incoming';
          if (isDirRow) {
            await mkdir(join(here, 'sub'), { recursive: true });
            await writeFile(join(here, 'keep.txt'), 'outside\n');
            await writeFile(join(here, 'sub', 'keep.bin'), Buffer.alloc(4096, 7));
          } else {
            await mkdir(here, { recursive: true });
          }
          const depth = row.path.split('/').length; // slots/b/<path>: up to slots/
          const target =
            kind === 'slot A'
              ? join('../'.repeat(depth), 'a', row.inA)
              : kind === 'outside'
                ? isDirRow
                  ? here
                  : join(here, 'file')
                : '/nonexistent-ks-link/target';
          if (!isDirRow) {
            await mkdir(f.dev.path('slots/b/.incoming'), { recursive: true });
            if (kind === 'outside') await writeFile(target, 'outside file\n');
          }
          await row.bait?.(f, target);
          await symlink(target, f.dev.path(`slots/b/${row.path}`));
          const slotABefore = tree(f.dev.path('slots/a'));
          const outsideBefore = tree(here);

          const r = await f.agent(['apply', '--force']);

          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.doc.outcome, 'staged', r.stdout);
          assert.deepEqual(tree(f.dev.path('slots/a')), slotABefore, 'slot A changed');
          assert.deepEqual(tree(here), outsideBefore, 'the outside tree changed');
          assert.deepEqual(links(f.dev.path('slots/b')), [], 'a link is left in slot B');
          for (const file of Object.values(ART)) {
            const want = (await releaseFacts(f, file)).sha256;
            assert.equal(sha256File(f.dev.path(`slots/b/${file}`)), want, file);
          }
          assert.equal(await readFile(f.dev.path('slots/b/version'), 'utf8'), 'v1.1.0\n');
        } finally {
          await f.cleanup();
        }
      });
    }
  }
});

describe('finding 31.3: a FIFO in the incoming directory never blocks apply', () => {
  // Before: a FIFO as `vmlinuz.part.json` (beside a partial file) blocked apply in
  // open(2) for ever, with the run lock held; SIGTERM did not end it.
  for (const name of ['vmlinuz.part.json', 'vmlinuz.verified.json', 'vmlinuz.part', 'vmlinuz']) {
    it(`a FIFO as .incoming/${name}: staged, the FIFO replaced`, async () => {
      const f = await makeFaultDevice();
      try {
        await mkdir(f.dev.path('slots/b/.incoming'), { recursive: true });
        await writeFile(f.dev.path('slots/b/.incoming/vmlinuz.part'), 'x\n');
        await rm(f.dev.path(`slots/b/.incoming/${name}`), { force: true });
        execFileSync('mkfifo', [f.dev.path(`slots/b/.incoming/${name}`)]);
        const r = await runAgent(['apply', '--force', '--root', f.dev.root, '--json'], {
          timeoutMs: 30_000,
          killSignal: 'SIGKILL', // the hang ignored SIGTERM
        });
        assert.equal(r.signal, null, 'apply hung and was killed');
        assert.equal(r.code, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).outcome, 'staged');
        assert.equal(await readFile(f.dev.path('slots/b/version'), 'utf8'), 'v1.1.0\n');
      } finally {
        await f.cleanup();
      }
    });
  }
});
