/**
 * Issue 31, finding 5 (the low ones), through the real bundles on a --root device. Each
 * test fails on the agent before its fix (the comment says how).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { AGENT_BIN, runAgent, runRelease, expectRefusal } from '../helpers/cli.js';
import { makeKeys, publishRelease } from '../helpers/device.js';
import { keys, readState, useFaultDevice } from './harness.js';
import { assertCode } from '../helpers/code-assert.js';

const isRoot = process.getuid?.() === 0;

describe('finding 31.5: a stop during the install', () => {
  // Large enough that the install's read-back of a kept download takes a while.
  const f = useFaultDevice({ imageBytes: 96 * 1024 * 1024 });

  // Before: the install finished and apply exited 0 "Staged" although docs/operating.md
  // said 143. Now: the install finishes (the state says staged), the exit is 143.
  for (const extra of [[], ['--activate']]) {
    it(`SIGTERM while installing (apply ${extra.join(' ')}): the install finishes (staged), exit 143 INTERRUPTED, nothing activated`, async () => {
      // Verified downloads kept from an earlier run: the install reads them back itself.
      await mkdir(f.dev.path('slots/b/.incoming'), { recursive: true });
      for (const file of ['vmlinuz', 'kubesolo-os.gz']) {
        const src = join(f.releases, 'v1.1.0', file);
        const bytes = await readFile(src);
        await copyFile(src, f.dev.path(`slots/b/.incoming/${file}`));
        await writeFile(
          f.dev.path(`slots/b/.incoming/${file}.verified.json`),
          JSON.stringify({
            url: `${f.server.url}v1.1.0/${file}`,
            sha256: createHash('sha256').update(bytes).digest('hex'),
            size: bytes.length,
          }),
        );
      }
      const child = spawn(
        process.execPath,
        [AGENT_BIN, 'apply', '--force', ...extra, '--root', f.dev.root, '--json'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      let stopped = false;
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (!stopped && stderr.includes('"msg":"installing into slot B"')) {
          // Freeze it inside the install, so the signal lands there and not later.
          stopped = true;
          process.kill(child.pid!, 'SIGSTOP');
          process.kill(child.pid!, 'SIGTERM');
          process.kill(child.pid!, 'SIGCONT');
        }
      });
      const code = await new Promise<number | null>((res) => child.on('close', res));
      assert.ok(stopped, `the install was never reached: ${stderr}`);
      assert.equal(code, 143, stderr);
      assertCode(JSON.parse(stdout).error.code, 'INTERRUPTED');
      const state = readState(f.statePath);
      assert.equal(state.phase, 'staged', 'the finished install is recorded');
      assert.equal(await readFile(f.dev.path('slots/b/version'), 'utf8'), 'v1.1.0\n');
      // --activate did not run after the stop.
      const vars = execFileSync('grub-editenv', [f.grubenv, 'list'], { encoding: 'utf8' });
      assert.match(vars, /^active_slot=A$/m);
      // The next run finds the staged release intact and downloads nothing.
      const again = await f.agent(['apply']);
      assert.equal(again.code, 0, again.stderr);
      assertCode(again.doc.code, 'ALREADY_STAGED');
    });
  }
});

describe('finding 31.5: read-only passive slot', { skip: !isRoot && 'mounts need root' }, () => {
  // Registered before the device's hooks: slot B is unmounted before the device is removed.
  afterEach(() => {
    try {
      execFileSync('umount', [f.dev.path('slots/b')], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
  });
  const f = useFaultDevice();

  // Before: SLOT_WRITE_FAILED with errno ENOENT (mkdir -p's reading of EROFS), and the
  // remount hint was lost.
  it('is reported as EROFS with the remount hint', async () => {
    const b = f.dev.path('slots/b');
    execFileSync('mount', ['--bind', b, b]);
    execFileSync('mount', ['-o', 'remount,bind,ro', b]);
    const r = await f.agent(['apply', '--force']);
    expectRefusal(r, 'SLOT_WRITE_FAILED', 1);
    assert.equal(r.doc.error.errno, 'EROFS');
    assert.match(r.doc.error.hint, /remount it read-write/);
  });
});

describe('finding 31.5: the floor file', () => {
  const f = useFaultDevice();
  const floorPath = () => f.dev.path('var/lib/kubesolo/update/floor.json');

  // Before: a dangling link read as "no floor" (ENOENT): apply ran with the protection off.
  it('a dangling floor.json link is FLOOR_CORRUPT, not "no floor"', async () => {
    await mkdir(f.dev.path('var/lib/kubesolo/update'), { recursive: true });
    await symlink('/nonexistent-floor/floor.json', floorPath());
    const r = await f.agent(['apply']);
    expectRefusal(r, 'FLOOR_CORRUPT', 1);
    const s = await f.agent(['status']);
    assertCode(s.doc.problems[0].code, 'FLOOR_CORRUPT');
  });

  // Before: accepted, and status printed "Floor: v1.0.0" with a line break inside.
  it('a floor version with a trailing newline is FLOOR_CORRUPT', async () => {
    await mkdir(f.dev.path('var/lib/kubesolo/update'), { recursive: true });
    await writeFile(
      floorPath(),
      JSON.stringify({ version: 'v1.0.0\n', set_at: '2026-01-01T00:00:00Z', source: 'commit' }),
    );
    const r = await f.agent(['apply']);
    assertCode(r.doc.error.code, 'FLOOR_CORRUPT', undefined, r.stderr);
    const text = await runAgent(['status', '--root', f.dev.root]);
    assert.doesNotMatch(text.stdout, /Floor: +v1\.0\.0\n\n/);
    assert.match(text.stdout + text.stderr, /FLOOR_CORRUPT/);
  });
});

describe('finding 31.5: rollout times', () => {
  const f = useFaultDevice();

  async function offer(rollout: unknown): Promise<void> {
    await publishRelease(f.releases, { version: 'v1.1.0', keys, patch: { rollout } });
  }

  // Before: Date.parse rolled 2026-02-30 over to March 2 and the release was offered.
  for (const start of ['2026-02-30T00:00:00Z', '2026-04-31T00:00:00Z', '2026-01-01T24:00:00Z']) {
    it(`rollout.start ${start} is refused by the device (METADATA_FIELD_INVALID)`, async () => {
      await offer({ start, waves: [{ percent: 100, after: '0s' }] });
      const r = await f.agent(['check']);
      expectRefusal(r, 'METADATA_FIELD_INVALID', 4);
      assert.equal(r.doc.error.field, 'rollout.start');
    });
  }

  it('publish refuses --rollout-start 2026-02-30T00:00:00Z', async () => {
    const dir = f.releases;
    const key = makeKeys();
    await writeFile(join(dir, 'k'), key.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const r = await runRelease([
      'publish',
      '--key',
      join(dir, 'k'),
      '--release-version',
      'v1.2.0',
      '--kernel',
      join(dir, 'v1.1.0', 'vmlinuz'),
      '--initramfs',
      join(dir, 'v1.1.0', 'kubesolo-os.gz'),
      '--out',
      join(dir, 'out'),
      '--wave',
      '100@0s',
      '--rollout-start',
      '2026-02-30T00:00:00Z',
      '--json',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /--rollout-start/);
  });

  // Before: accepted; the wave opened in "+010000-..." as the agent printed it.
  it('a wave that would open after the year 9999 is refused', async () => {
    await offer({ start: '9999-12-01T00:00:00Z', waves: [{ percent: 100, after: '5w' }] });
    const r = await f.agent(['check']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.doc.error.field, 'rollout.waves[0].after');
  });

  // Before: check exited 0 ("apply creates it and decides") and apply exited 3.
  it('a release no wave of which is open yet: check and apply both refuse (exit 3), even without a device id', async () => {
    await offer({ start: '9999-01-01T00:00:00Z', waves: [{ percent: 100, after: '0s' }] });
    await rm(f.dev.path('etc/machine-id'), { force: true });
    const c = await f.agent(['check']);
    assert.equal(c.code, 3, c.stderr);
    const a = await f.agent(['apply']);
    expectRefusal(a, 'ROLLOUT_NOT_OPEN', 3);
  });
});

describe('finding 31.5: slot directories that hold the agent\u2019s own files', () => {
  const f = useFaultDevice();

  // Before: each was accepted and apply installed kernels into it.
  for (const dir of ['/', '/etc/kubesolo', '/boot/grub', '/var/lib/kubesolo/update', '/var']) {
    it(`slot_b_dir=${dir} is SLOT_DIR_OVERLAPS (exit 2), nothing written`, async () => {
      await f.dev.writeConfig({
        server: f.server.url,
        pubkey: '/etc/kubesolo/update.pub',
        slot_backend: 'dir',
        slot_a_dir: '/slots/a',
        slot_b_dir: dir,
      });
      const r = await f.agent(['apply', '--force']);
      expectRefusal(r, 'SLOT_DIR_OVERLAPS', 2);
      assert.equal(f.server.requests.size, 0, 'nothing fetched');
      await assert.rejects(readFile(f.dev.path(join(dir, 'vmlinuz'))), { code: 'ENOENT' });
    });
  }

  it('slot_b_dir inside slot_a_dir is SLOT_DIR_OVERLAPS', async () => {
    await f.dev.writeConfig({
      server: f.server.url,
      pubkey: '/etc/kubesolo/update.pub',
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      slot_b_dir: '/slots/a/b',
    });
    const r = await f.agent(['status']);
    expectRefusal(r, 'SLOT_DIR_OVERLAPS', 2);
  });

  it('a slot directory that is a link to /etc/kubesolo is refused before the write', async () => {
    await rm(f.dev.path('slots/b'), { recursive: true });
    await symlink('../etc/kubesolo', f.dev.path('slots/b'));
    const conf = await readFile(f.dev.path('etc/kubesolo/update.conf'));
    const r = await f.agent(['apply', '--force']);
    expectRefusal(r, 'SLOT_DIR_OVERLAPS', 2);
    assert.deepEqual(await readFile(f.dev.path('etc/kubesolo/update.conf')), conf);
    await assert.rejects(readFile(f.dev.path('etc/kubesolo/vmlinuz')), { code: 'ENOENT' });
  });

  it('cloud-init refuses slot_b_dir: /etc/kubesolo and writes nothing', async () => {
    const file = f.dev.path('ci.yaml');
    await writeFile(
      file,
      'updates:\n  slot_backend: dir\n  slot_a_dir: /slots/a\n  slot_b_dir: /etc/kubesolo\n',
    );
    const conf = await readFile(f.dev.path('etc/kubesolo/update.conf'));
    const r = await runAgent(['cloud-init', 'apply', file, '--root', f.dev.root, '--json']);
    assert.equal(r.code, 2, r.stderr);
    assertCode(JSON.parse(r.stdout).error.code, 'SLOT_DIR_OVERLAPS');
    assert.deepEqual(await readFile(f.dev.path('etc/kubesolo/update.conf')), conf);
  });
});

describe('a reader that goes away', () => {
  const f = useFaultDevice();

  /** Run the agent with the read end of stdout (or stderr) closed at once. */
  function withClosedPipe(args: string[], which: 'stdout' | 'stderr') {
    const child = spawn(process.execPath, [AGENT_BIN, ...args, '--root', f.dev.root], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let other = '';
    child[which].destroy();
    child[which === 'stdout' ? 'stderr' : 'stdout']
      .setEncoding('utf8')
      .on('data', (d: string) => (other += d));
    return new Promise<{ code: number | null; other: string }>((res) =>
      child.on('close', (code) => res({ code, other })),
    );
  }

  // Before: `status | head -1` died with an unhandled EPIPE and a stack trace.
  it('status with its stdout closed: exit 0, no EPIPE crash', async () => {
    const r = await withClosedPipe(['status'], 'stdout');
    assert.equal(r.code, 0, r.other);
    assert.doesNotMatch(r.other, /EPIPE|Unhandled/);
  });

  it('apply with its stderr (the log) closed still stages', async () => {
    const r = await withClosedPipe(['apply', '--force'], 'stderr');
    assert.equal(r.code, 0, r.other);
    assert.match(r.other, /Staged v1\.1\.0 in slot B/);
    assert.equal(readState(f.statePath).phase, 'staged');
  });
});
