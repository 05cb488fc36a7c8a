import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  GRUBENV_MESSAGE,
  GRUBENV_SIGNATURE,
  GRUBENV_SIZE,
  grubEnvDelete,
  grubEnvSet,
  iterateGrubEnv,
  parseGrubEnv,
  readGrubEnvFile,
  serializeGrubEnv,
  updateGrubEnvFile,
  writeGrubEnvFile,
} from '../../src/bootenv/grubenv.js';
import { KubesoloError } from '../../src/errors.js';
import type { AtomicWriteStep } from '../../src/fs/atomic.js';
import { abEnv, envOf } from './boot-states.js';
import { grubEditenv, grubEditenvOk, grubEditenvSkipReason, listing } from './editenv.js';
import { requireRoot, toolSkipReason } from '../helpers/require-tool.js';
import { hasReason, rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

const HEADER = GRUBENV_SIGNATURE + GRUBENV_MESSAGE;

/** A block from raw text, '#'-padded to `size`. */
function rawBlock(text: string, size = GRUBENV_SIZE): Buffer {
  const b = Buffer.alloc(size, '#');
  b.write(text, 0, 'utf8');
  return b;
}

function throwsCode(fn: () => unknown, code: string, reason?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KubesoloError, `expected a KubesoloError, got ${String(err)}`);
    hasReason(code)(err);
    if (reason !== undefined) assert.equal(err.details.reason, reason);
    return true;
  });
}

describe('grubenv codec', () => {
  it('serializes the signature, the warning comment, escaped lines and # padding', () => {
    const b = serializeGrubEnv(envOf({ active_slot: 'B', x: 'a\\b\nc' }));
    assert.equal(b.length, GRUBENV_SIZE);
    const text = HEADER + 'active_slot=B\n' + 'x=a\\\\b\\\nc\n';
    assert.equal(b.subarray(0, text.length).toString('utf8'), text);
    assert.ok(b.subarray(text.length).every((c) => c === 0x23));
  });

  it('round-trips, including escapes, = and # in values and UTF-8', () => {
    const vars = envOf({
      a: '',
      b: '=#=\\\\\n\n',
      ünï: 'cödé ✓',
      'with space': ' lead and trail ',
    });
    assert.deepEqual(parseGrubEnv(serializeGrubEnv(vars)), vars);
  });

  it('accepts iterables of pairs', () => {
    assert.deepEqual(serializeGrubEnv([['k', 'v']]), serializeGrubEnv(new Map([['k', 'v']])));
  });

  it('fills the block exactly, and one byte more is GRUBENV_TOO_LARGE', () => {
    const room = GRUBENV_SIZE - Buffer.byteLength(HEADER) - 'k=\n'.length;
    const full = serializeGrubEnv(new Map([['k', 'v'.repeat(room)]]));
    assert.equal(full[GRUBENV_SIZE - 1], 0x0a);
    assert.equal(parseGrubEnv(full).get('k')!.length, room);
    throwsCode(() => serializeGrubEnv(new Map([['k', 'v'.repeat(room + 1)]])), 'GRUBENV_TOO_LARGE');
    // Escapes count twice: a backslash costs two bytes.
    throwsCode(
      () => serializeGrubEnv(new Map([['k', 'v'.repeat(room - 1) + '\\']])),
      'GRUBENV_TOO_LARGE',
    );
  });

  it('rejects names and values GRUB cannot store and read back', () => {
    for (const key of ['', 'a=b', 'a\nb', 'a\0b', '#x']) {
      throwsCode(() => serializeGrubEnv(new Map([[key, 'v']])), 'GRUBENV_INVALID_KEY');
    }
    throwsCode(() => serializeGrubEnv(new Map([['k', 'a\0b']])), 'GRUBENV_INVALID_VALUE');
  });

  it('reports corrupt blocks with a reason', () => {
    const good = serializeGrubEnv(new Map([['a', '1']]));
    throwsCode(() => parseGrubEnv(good.subarray(0, 1023)), 'GRUBENV_CORRUPT', 'size');
    throwsCode(
      () => parseGrubEnv(Buffer.concat([good, Buffer.from('#')])),
      'GRUBENV_CORRUPT',
      'size',
    );
    throwsCode(() => parseGrubEnv(Buffer.alloc(0)), 'GRUBENV_CORRUPT', 'size');
    throwsCode(() => parseGrubEnv(rawBlock(HEADER, 2048)), 'GRUBENV_CORRUPT', 'size');
    throwsCode(() => parseGrubEnv(Buffer.alloc(1024)), 'GRUBENV_CORRUPT', 'signature');
    throwsCode(
      () => parseGrubEnv(rawBlock('# GRUB Environment Blok\n')),
      'GRUBENV_CORRUPT',
      'signature',
    );
    const withNul = Buffer.from(good);
    withNul[200] = 0;
    throwsCode(() => parseGrubEnv(withNul), 'GRUBENV_CORRUPT', 'nul');
    throwsCode(() => parseGrubEnv(rawBlock(HEADER + 'a=1\nnoequals\n')), 'GRUBENV_CORRUPT', 'line');
    // A value running to the end of the block without its newline.
    const unterminated = Buffer.from(good);
    unterminated.fill('x', Buffer.byteLength(HEADER) + 'a=1'.length);
    throwsCode(() => parseGrubEnv(unterminated), 'GRUBENV_CORRUPT', 'line');
    // A trailing comment with something other than '#' before the padding: GRUB's
    // save_env could not find free space in it.
    throwsCode(() => parseGrubEnv(rawBlock(HEADER + 'a=1\n#x')), 'GRUBENV_CORRUPT', 'padding');
    throwsCode(() => parseGrubEnv(rawBlock(HEADER + 'a=1\na=2\n')), 'GRUBENV_CORRUPT', 'duplicate');
    throwsCode(() => parseGrubEnv(rawBlock(HEADER + '=1\n')), 'GRUBENV_CORRUPT', 'name');
    const badUtf8 = rawBlock(HEADER + 'a=__\n');
    badUtf8[HEADER.length + 2] = 0xff;
    throwsCode(() => parseGrubEnv(badUtf8), 'GRUBENV_CORRUPT', 'encoding');
  });

  it('reads blocks without the warning comment and with comment lines between variables', () => {
    const b = rawBlock(GRUBENV_SIGNATURE + 'a=1\n# note \\\n still comment\nb=2\n');
    assert.deepEqual(parseGrubEnv(b), envOf({ a: '1', b: '2' }));
  });

  it('the lenient iterator stops where GRUB does and refuses what grub_envblk_open refuses', () => {
    assert.equal(iterateGrubEnv(Buffer.from(GRUBENV_SIGNATURE)), undefined);
    assert.equal(iterateGrubEnv(rawBlock('# GRUB Environment Blok\n')), undefined);
    const it = iterateGrubEnv(rawBlock(HEADER + 'a=1\nbroken\n'))!;
    assert.equal(it.broken, 'no-equals');
    assert.deepEqual(
      it.vars.map((v) => [v.name.toString(), v.value.toString()]),
      [['a', '1']],
    );
    // A name runs across a newline to the next '=', as in GRUB ...
    const across = iterateGrubEnv(rawBlock(HEADER + 'a=1\nbroken\nb=2\n'))!;
    assert.equal(across.broken, undefined);
    assert.deepEqual(
      across.vars.map((v) => [v.name.toString(), v.value.toString()]),
      [
        ['a', '1'],
        ['broken\nb', '2'],
      ],
    );
    // ... which the strict parser refuses.
    throwsCode(
      () => parseGrubEnv(rawBlock(HEADER + 'a=1\nbroken\nb=2\n')),
      'GRUBENV_CORRUPT',
      'name',
    );
  });

  it('in-place set and delete behave like GRUB on the simple cases', () => {
    const b = serializeGrubEnv(envOf({ active_slot: 'A', boot_counter: '3' }));
    assert.ok(grubEnvSet(b, 'boot_counter', '2'));
    assert.ok(grubEnvSet(b, 'new', 'x'));
    assert.ok(grubEnvSet(b, 'active_slot', 'longer'));
    assert.ok(grubEnvSet(b, 'active_slot', 'B'));
    assert.deepEqual(parseGrubEnv(b), envOf({ active_slot: 'B', boot_counter: '2', new: 'x' }));
    grubEnvDelete(b, 'boot_counter');
    grubEnvDelete(b, 'absent');
    assert.deepEqual([...parseGrubEnv(b).keys()], ['active_slot', 'new']);
    assert.equal(grubEnvSet(b, 'big', 'x'.repeat(2000)), false);
    assert.equal(grubEnvSet(rawBlock(HEADER + 'a=1\n#x'), 'a', '2'), false);
  });
});

describe('grubenv against grub-editenv (oracle)', { skip: grubEditenvSkipReason() }, () => {
  const tmp = useTempDir('ks-grubenv-', 'all');

  it('a block from grub-editenv create is byte-identical to ours and reads as empty', async () => {
    const f = join(tmp.dir, 'created');
    grubEditenvOk(f, 'create');
    const bytes = await readFile(f);
    assert.deepEqual(bytes, serializeGrubEnv(new Map()));
    assert.deepEqual(parseGrubEnv(bytes), new Map());
  });

  it('variables set by grub-editenv read back exactly, and our bytes equal its bytes', async () => {
    const f = join(tmp.dir, 'set');
    const vars = abEnv('B', '2', '0', { tricky: 'a\\b\nc=d#e' });
    grubEditenvOk(f, 'create');
    grubEditenvOk(f, 'set', '--', ...[...vars].map(([k, v]) => `${k}=${v}`));
    const bytes = await readFile(f);
    assert.deepEqual(parseGrubEnv(bytes), vars);
    assert.deepEqual(serializeGrubEnv(vars), bytes);
  });

  it('files we write are listed identically by grub-editenv list', async () => {
    const f = join(tmp.dir, 'ours');
    const vars = abEnv('A', '3', '1', { saved_entry: 'KubeSolo OS' });
    await writeGrubEnvFile(f, vars);
    assert.deepEqual(grubEditenvOk(f, 'list'), listing(vars));
    // ... and grub-editenv can keep editing them.
    grubEditenvOk(f, 'set', 'boot_counter=2');
    grubEditenvOk(f, 'unset', 'saved_entry');
    assert.deepEqual(await readGrubEnvFile(f), abEnv('A', '2', '1'));
  });

  it('grub-editenv refuses what we call corrupt at the signature, and lists nothing past a broken line', async () => {
    const f = join(tmp.dir, 'bad');
    await writeFile(f, rawBlock('# GRUB Environment Blok\n'));
    assert.notEqual(grubEditenv(f, 'list').status, 0);
    await writeFile(f, rawBlock(HEADER + 'a=1\nbroken\n'));
    assert.deepEqual(grubEditenvOk(f, 'list'), Buffer.from('a=1\n'));
    // ... and GRUB cannot save into a block whose padding is broken.
    await writeFile(f, rawBlock(HEADER + 'a=1\n#x'));
    const r = grubEditenv(f, 'set', 'a=2');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /too small/);
  });
});

describe('grubenv files', () => {
  const tmp = useTempDir('ks-grubenv-f-', 'all');

  it('a missing file reads as undefined; update creates it', async () => {
    const f = join(tmp.dir, 'missing');
    assert.equal(await readGrubEnvFile(f), undefined);
    await updateGrubEnvFile(f, (v) => v.set('k', 'v'));
    assert.deepEqual(await readGrubEnvFile(f), new Map([['k', 'v']]));
  });

  it('a corrupt file is reported with its path', async () => {
    const f = join(tmp.dir, 'corrupt');
    await writeFile(f, 'garbage');
    const err = await rejectsWithCode(readGrubEnvFile(f), 'GRUBENV_CORRUPT', 1);
    assert.equal(err.details.path, f);
  });

  it('an unreadable path is GRUBENV_READ_FAILED', async () => {
    await assert.rejects(readGrubEnvFile(tmp.dir), hasReason('GRUBENV_READ_FAILED'));
  });

  it('a missing directory is GRUBENV_WRITE_FAILED, not created (the ESP may be unmounted)', async () => {
    const f = join(tmp.dir, 'no', 'such', 'grubenv');
    const err = await rejectsWithCode(writeGrubEnvFile(f, new Map()), 'GRUBENV_WRITE_FAILED', 1);
    assert.match(err.message, /missing/);
    await assert.rejects(readFile(f), { code: 'ENOENT' });
  });

  it('too many variables fail before the file is touched', async () => {
    const f = join(tmp.dir, 'toolarge');
    await writeGrubEnvFile(f, new Map([['k', 'old']]));
    await assert.rejects(
      writeGrubEnvFile(f, new Map([['k', 'x'.repeat(2000)]])),
      hasReason('GRUBENV_TOO_LARGE'),
    );
    assert.deepEqual(await readGrubEnvFile(f), new Map([['k', 'old']]));
  });

  it('in place (the FAT path): same inode, no rename; a damaged block is replaced whole', async () => {
    const sub = await mkdtemp(join(tmp.dir, 'inplace-'));
    const f = join(sub, 'grubenv');
    await writeGrubEnvFile(f, new Map([['n', 'old']]));
    const before = await stat(f);
    await writeGrubEnvFile(f, envOf({ n: 'new', active_slot: 'B' }), { strategy: 'in-place' });
    const after = await stat(f);
    assert.equal(after.ino, before.ino);
    assert.equal(after.size, 1024);
    assert.deepEqual(await readFile(f), serializeGrubEnv(envOf({ n: 'new', active_slot: 'B' })));
    // grub-editenv, the oracle, reads the result.
    const listed = execFileSync('grub-editenv', [f, 'list'], { encoding: 'utf8' });
    assert.deepEqual(listed.trim().split('\n').sort(), ['active_slot=B', 'n=new']);
    // A damaged block is not patched in place but replaced whole.
    await writeFile(f, Buffer.alloc(1024, 0x41));
    await writeGrubEnvFile(f, new Map([['n', 'fresh']]), { strategy: 'in-place' });
    assert.notEqual((await stat(f)).ino, before.ino);
    assert.deepEqual(await readGrubEnvFile(f), new Map([['n', 'fresh']]));
  });

  it('a failure injected at every step of the write leaves a complete old or new block', async () => {
    const steps: AtomicWriteStep[] = ['open', 'write', 'fsync', 'close', 'rename', 'fsync-dir'];
    const sub = await mkdtemp(join(tmp.dir, 'inject-'));
    const f = join(sub, 'grubenv');
    const oldBlock = serializeGrubEnv(new Map([['n', 'old']]));
    const newBlock = serializeGrubEnv(new Map([['n', 'new']]));
    for (const failAt of steps) {
      await writeFile(f, oldBlock);
      await assert.rejects(
        writeGrubEnvFile(f, new Map([['n', 'new']]), {
          onStep: (s) => {
            if (s === failAt) throw new Error(`injected at ${s}`);
          },
        }),
        hasReason('GRUBENV_WRITE_FAILED'),
      );
      const now = await readFile(f);
      const renamed = failAt === 'rename' || failAt === 'fsync-dir';
      assert.deepEqual(now, renamed ? newBlock : oldBlock, `failure at ${failAt}`);
      assert.deepEqual(
        await readdir(sub),
        ['grubenv'],
        `temp file left after failure at ${failAt}`,
      );
    }
  });

  it('removes temp files left by a writer that died, keeps those of live processes', async () => {
    const sub = await mkdtemp(join(tmp.dir, 'stale-'));
    const f = join(sub, 'grubenv');
    // PID 2^22+1 is above Linux's pid_max limit, so it can never be a live process.
    const dead = join(sub, `.grubenv.tmp-${2 ** 22 + 1}-deadbeef`);
    const live = join(sub, `.grubenv.tmp-${process.ppid}-cafebabe`);
    await writeFile(dead, 'x');
    await writeFile(live, 'x');
    await writeGrubEnvFile(f, new Map([['k', 'v']]));
    assert.deepEqual((await readdir(sub)).sort(), [
      '.grubenv.tmp-' + process.ppid + '-cafebabe',
      'grubenv',
    ]);
    await rm(live);
  });
});

describe('grubenv on a real FAT file system (the ESP)', () => {
  it('is overwritten in place there by default (no rename on a journal-less FS)', async (t) => {
    if (requireRoot(t, 'mounts a vfat image')) return;
    toolSkipReason(['mkfs.vfat'], 'dosfstools'); // under root: throws when missing
    const tmp = await mkdtemp(join(tmpdir(), 'ks-fat-'));
    const img = join(tmp, 'esp.img');
    const mnt = join(tmp, 'mnt');
    execFileSync('mkfs.vfat', ['-C', img, '2048'], { stdio: 'ignore' });
    execFileSync('mkdir', ['-p', mnt]);
    // The mount itself says whether the kernel has vfat (it loads the module on demand;
    // /proc/filesystems lists only loaded ones). A kernel without it (a container's,
    // this suite's Firecracker VM) is no missing tool: the one skip left, printed; the
    // QEMU e2e suite covers the real ESP. Any other mount failure fails the test.
    const mount = spawnSync('mount', ['-o', 'loop', img, mnt], { encoding: 'utf8' });
    if (mount.status !== 0 && /unknown filesystem type/.test(mount.stderr)) {
      await rm(tmp, { recursive: true, force: true });
      const why = `this kernel cannot mount vfat (${mount.stderr.trim()})`;
      console.log(`# SKIP: ${why}`);
      t.skip(why);
      return;
    }
    assert.equal(mount.status, 0, mount.stderr);
    try {
      const f = join(mnt, 'grubenv');
      await writeGrubEnvFile(f, new Map([['active_slot', 'A']]));
      const before = await stat(f);
      await writeGrubEnvFile(f, new Map([['active_slot', 'B']]));
      assert.equal((await stat(f)).ino, before.ino);
      assert.deepEqual(await readGrubEnvFile(f), new Map([['active_slot', 'B']]));
    } finally {
      execFileSync('umount', [mnt]);
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
