/**
 * Issue 13's findings, one block each, through the real agent bundle on a --root
 * device. Each test fails on the agent before the fix (the comment says how).
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AGENT_BIN, expectRefusal, runAgent } from '../helpers/cli.js';
import { grubEnv } from '../helpers/grub-env.js';
import { readState, sha256File, useFaultDevice } from './harness.js';
import { assertCode } from '../helpers/code-assert.js';
import { loggedLine } from '../helpers/code-log-line.js';

const isRoot = process.getuid?.() === 0;

function mount(args: string[]): void {
  execFileSync('mount', args, { stdio: 'ignore' });
}

describe('finding 1: a configuration can never make apply write the running slot', () => {
  const f = useFaultDevice();

  // Before: each spelling was accepted, apply wrote v1.1.0 over slot A and said "slot B".
  for (const spelling of ['/slots/a/', '/slots/b/../a', '/slots/./a', '//slots/a']) {
    it(`slot_b_dir=${spelling} is refused up front (SLOT_ALIASED, exit 2), slot A untouched`, async () => {
      const before = f.slotA();
      await f.dev.writeConfig({
        server: f.server.url,
        pubkey: '/etc/kubesolo/update.pub',
        slot_backend: 'dir',
        slot_a_dir: '/slots/a',
        slot_b_dir: spelling,
      });
      const r = await f.agent(['apply']);
      expectRefusal(r, 'SLOT_ALIASED', 2);
      assert.equal(f.slotA(), before);
      assert.equal(f.server.requests.size, 0, 'nothing fetched');
    });
  }

  it('a slot B directory that is a symlink to slot A is refused before the write', async () => {
    const before = f.slotA();
    await rm(f.dev.path('slots/b'), { recursive: true });
    await symlink(f.dev.path('slots/a'), f.dev.path('slots/b'));
    const r = await f.agent(['apply']);
    expectRefusal(r, 'SLOT_ALIASED', 2);
    assert.equal(f.slotA(), before);
    assert.equal(readState(f.statePath).phase, 'failed');
    assertCode(readState(f.statePath).reason, 'SLOT_ALIASED');
  });

  it(
    'a bind mount of slot A at slot B (same inode) is refused',
    { skip: !isRoot && 'needs root' },
    async () => {
      const before = f.slotA();
      mount(['--bind', f.dev.path('slots/a'), f.dev.path('slots/b')]);
      try {
        const r = await f.agent(['apply']);
        expectRefusal(r, 'SLOT_ALIASED', 2);
        assert.equal(f.slotA(), before);
      } finally {
        execFileSync('umount', [f.dev.path('slots/b')]);
      }
    },
  );

  it('cloud-init refuses slot_b_dir aliasing slot_a_dir and writes nothing', async () => {
    const conf = f.dev.path('etc/kubesolo/update.conf');
    const confBefore = await readFile(conf, 'utf8');
    const file = f.dev.path('user-data.yaml');
    await writeFile(file, '#cloud-config\nupdates:\n  slot_b_dir: /slots/b/../a\n');
    const r = await f.agent(['cloud-init', 'apply', file]);
    expectRefusal(r, 'SLOT_ALIASED', 2);
    assert.equal(await readFile(conf, 'utf8'), confBefore);
  });

  it('cloud-init refuses slot_b_label equal to the default slot A label', async () => {
    const file = f.dev.path('user-data.yaml');
    await writeFile(file, '#cloud-config\nupdates:\n  slot_b_label: KSOLOA\n');
    const r = await f.agent(['cloud-init', 'apply', file]);
    expectRefusal(r, 'SLOT_ALIASED', 2);
  });
});

describe('finding 2: a stale lock never wedges the device', () => {
  const f = useFaultDevice();

  it('a lock left by pid 1 in an earlier boot does not block apply or activate', async () => {
    // Before: pid 1 is alive, so every command exited LOCKED until the file was deleted.
    await mkdir(f.dev.path('var/lib/kubesolo/update'), { recursive: true });
    await writeFile(
      f.dev.path('var/lib/kubesolo/update/update.lock'),
      JSON.stringify({ pid: 1, startTime: '1', bootId: 'an-earlier-boot' }),
    );
    const a = await f.agent(['apply']);
    assert.equal(a.code, 0, a.stderr);
    const b = await f.agent(['activate']);
    assert.equal(b.code, 0, b.stderr);
  });

  it('the lock is released before the reboot command runs', async () => {
    const lock = f.dev.path('var/lib/kubesolo/update/update.lock');
    const seen = f.dev.path('lock-seen-by-reboot');
    const r = await f.agent(['apply', '--activate', '--reboot'], {
      KUBESOLO_UPDATE_REBOOT_COMMAND: `if [ -e '${lock}' ]; then echo held > '${seen}'; else echo free > '${seen}'; fi`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readFile(seen, 'utf8')).trim(), 'free');
  });
});

describe('finding 3: line endings in update.conf', () => {
  const f = useFaultDevice();
  /** update.conf for this device with `last` as its fifth line, every line ended by `eol`. */
  const writeConf = (last: string, eol: string) => {
    const lines = ['slot_backend=dir', 'slot_a_dir=/slots/a', 'slot_b_dir=/slots/b'];
    const text = [...lines, `server=${f.server.url}`, last].map((l) => l + eol).join('');
    return writeFile(f.dev.path('etc/kubesolo/update.conf'), text);
  };

  it('a bare CR is a configuration error naming the line; nothing unsigned is installed', async () => {
    // Before: `pubkey=` was swallowed into channel's value, signatures were off.
    await writeConf('channel=stable\rpubkey=/etc/kubesolo/update.pub', '\n');
    const r = await f.agent(['apply']);
    expectRefusal(r, 'CONFIG_CONTROL_CHARACTER', 2);
    assert.equal(r.doc.error.line, 5);
    assert.equal(existsSync(f.dev.path('slots/b/version')), false);
  });

  it('CRLF line ends are accepted', async () => {
    await writeConf('pubkey=/etc/kubesolo/update.pub', '\r\n');
    const r = await f.agent(['apply']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.outcome, 'staged');
  });
});

describe(
  'finding 4: degraded mode (read-only or full state partition, corrupt grubenv)',
  {
    skip: !isRoot && 'mounts need root',
  },
  () => {
    let stateDir: string;
    // Registered before the device's hooks: the state partition is unmounted before the
    // device is removed.
    afterEach(() => {
      try {
        execFileSync('umount', [stateDir], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
    });
    const f = useFaultDevice();
    beforeEach(async () => {
      // The slot B image rollback needs, and a committed update to roll back from.
      assert.equal((await f.agent(['apply'])).code, 0);
      stateDir = f.dev.path('var/lib/kubesolo/update');
      await rm(join(stateDir, 'staging'), { recursive: true, force: true });
    });

    async function overlayState(options: string): Promise<void> {
      const saved = await readFile(join(stateDir, 'state.json'));
      mount(['-t', 'tmpfs', '-o', `size=64k,${options}`, 'tmpfs', stateDir]);
      await writeFile(join(stateDir, 'state.json'), saved);
    }

    it('read-only: status reports, rollback flips GRUB (before: LOCK_FAILED)', async () => {
      await overlayState('rw');
      mount(['-o', 'remount,ro', stateDir]);
      const s = await f.agent(['status']);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(s.doc.state.phase, 'staged');
      const r = await f.agent(['rollback']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(grubEnv(f.grubenv).active_slot, 'B');
      const a = await f.agent(['apply']);
      expectRefusal(a, 'STATE_READ_ONLY', 1);
    });

    it('full: status reports, rollback flips GRUB', async () => {
      await overlayState('rw');
      try {
        await writeFile(join(stateDir, 'filler'), Buffer.alloc(128 * 1024));
      } catch {
        // ENOSPC: the partition is full now
      }
      const s = await f.agent(['status']);
      assert.equal(s.code, 0, s.stderr);
      const r = await f.agent(['rollback']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(grubEnv(f.grubenv).active_slot, 'B');
      const a = await f.agent(['apply']);
      assertCode(a.doc.error.code, 'STATE_NO_SPACE');
    });

    it('corrupt grubenv: status still shows the state and names the problem', async () => {
      await writeFile(f.grubenv, Buffer.alloc(1024, 0x41));
      const s = await f.agent(['status']);
      assert.equal(s.code, 1);
      assert.equal(s.doc.state.phase, 'staged');
      assert.equal(s.doc.active_slot, null);
      assert.equal(s.doc.running_slot, 'A');
      assertCode(s.doc.problems[0].code, 'GRUBENV_CORRUPT');
    });
  },
);

describe('finding 5: verified work is kept', () => {
  const f = useFaultDevice();

  it('apply on a staged device says so and fetches no artifact again', async () => {
    assert.equal((await f.agent(['apply'])).code, 0);
    const sent = f.server.bytesSent();
    const kernelRequests = f.server.requests.get('/v1.1.0/vmlinuz');
    const r = await f.agent(['apply']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.outcome, 'already-staged');
    loggedLine(r.stderr, 'ALREADY_STAGED');
    assert.equal(f.server.requests.get('/v1.1.0/vmlinuz'), kernelRequests);
    // Only latest.json and its signature again: far less than one image.
    assert.ok(f.server.bytesSent() - sent < 16 * 1024, `${f.server.bytesSent() - sent} bytes`);
    assert.equal(readState(f.statePath).phase, 'staged');
  });

  it('apply on a staged device whose slot no longer verifies says so (STAGED_SLOT_DAMAGED) and stages again', async () => {
    assert.equal((await f.agent(['apply'])).code, 0);
    // One flipped byte in the staged initramfs: the slot no longer holds the release.
    const image = f.dev.path('slots/b/kubesolo-os.gz');
    const bytes = await readFile(image);
    const at = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    await writeFile(image, bytes);
    const before = f.server.requests.get('/v1.1.0/kubesolo-os.gz') ?? 0;
    const r = await f.agent(['apply']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.outcome, 'staged');
    const warning = loggedLine(r.stderr, 'STAGED_SLOT_DAMAGED');
    assert.equal(warning.slot, 'B');
    assert.equal(f.server.requests.get('/v1.1.0/kubesolo-os.gz'), before + 1);
    assert.equal(sha256File(image), sha256File(join(f.releases, 'v1.1.0/kubesolo-os.gz')));
    assert.equal(readState(f.statePath).phase, 'staged');
  });

  it('--force stages afresh', async () => {
    assert.equal((await f.agent(['apply'])).code, 0);
    const before = f.server.requests.get('/v1.1.0/vmlinuz') ?? 0;
    const r = await f.agent(['apply', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.outcome, 'staged');
    assert.ok((f.server.requests.get('/v1.1.0/vmlinuz') ?? 0) > before);
  });

  it(
    'a failed activate (read-only /boot) stays staged and can be retried',
    { skip: !isRoot && 'mounts need root' },
    async () => {
      assert.equal((await f.agent(['apply'])).code, 0);
      const boot = f.dev.path('boot/grub');
      mount(['--bind', boot, boot]);
      mount(['-o', 'remount,ro,bind', boot]);
      let failed;
      try {
        failed = await f.agent(['activate']);
      } finally {
        execFileSync('umount', [boot]);
      }
      assert.equal(failed.code, 1, failed.stderr);
      const st = readState(f.statePath);
      // Before: phase failed, and the next activate said NOTHING_STAGED.
      assert.equal(st.phase, 'staged');
      assert.equal(st.reason, failed.doc.error.code);
      const again = await f.agent(['activate']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(grubEnv(f.grubenv).active_slot, 'B');
    },
  );
});

describe('finding 6: bounded inputs', () => {
  const f = useFaultDevice();

  it('a FIFO as update.conf is refused at once, not waited on', async () => {
    const conf = f.dev.path('etc/kubesolo/update.conf');
    await rm(conf);
    execFileSync('mkfifo', [conf]);
    const r = await f.agent(['status']);
    expectRefusal(r, 'CONFIG_UNREADABLE', 2);
    assert.match(r.doc.error.message, /not a regular file/);
  });

  it('a huge state.json (sparse 4 GiB) is reported, not read into memory', async () => {
    await mkdir(f.dev.path('var/lib/kubesolo/update'), { recursive: true });
    await writeFile(f.statePath, '');
    await truncate(f.statePath, 4 * 1024 ** 3);
    const r = await f.agent(['status']);
    assert.equal(r.code, 1);
    assert.equal(r.doc.problems[0].source, 'state');
    assertCode(r.doc.problems[0].code, 'STATE_READ_FAILED');
    assert.ok(statSync(f.statePath).size > 1024 ** 3, 'the evidence is left in place');
  });

  /** The agent, killed if it has not ended after `HANG_MS` (a read of a FIFO never returns). */
  const HANG_MS = 30_000;
  async function agentOrHang(args: string[]) {
    const r = await runAgent([...args, '--root', f.dev.root, '--json'], {
      timeoutMs: HANG_MS,
      killSignal: 'SIGKILL',
    });
    assert.equal(r.signal, null, `${args.join(' ')} hung on the FIFO (killed after ${HANG_MS} ms)`);
    return { ...r, doc: (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as Record<string, any> };
  }

  it('a FIFO as the public key is refused at once (PUBKEY_UNREADABLE, not a regular file), not waited on', async () => {
    const key = f.dev.path('etc/kubesolo/update.pub');
    await rm(key);
    execFileSync('mkfifo', [key]);
    for (const command of ['check', 'apply']) {
      const r = await agentOrHang([command]);
      expectRefusal(r, 'PUBKEY_UNREADABLE', 2);
      assert.equal(r.doc.error.errno, 'CONTROL_FILE_NOT_REGULAR');
    }
  });

  it('a FIFO as grubenv is a reported problem, not waited on', async () => {
    await rm(f.grubenv);
    execFileSync('mkfifo', [f.grubenv]);
    const r = await agentOrHang(['status']);
    assert.equal(r.code, 1);
    assert.equal(r.doc.problems[0].source, 'grubenv');
    assert.match(r.doc.problems[0].code, /^[A-Z][A-Z0-9_]+$/);
  });
});

describe('apply on a staged device reads the maintenance window in time_zone', () => {
  // The staged-device path once evaluated the window without the configured zone
  // (in the host's zone) while a fresh apply used it: the same window, open for one
  // apply, was closed for the next. A zone twelve hours from UTC and a window around
  // its local now: open there, closed in UTC and in this host's zone (UTC here).
  const f = useFaultDevice(() => {
    const local = (new Date().getUTCHours() + 12) % 24;
    const hh = (h: number) => String(h % 24).padStart(2, '0');
    return {
      config: {
        time_zone: 'Etc/GMT-12',
        maintenance_window: `${hh(local)}:00-${hh(local + 2)}:00`,
      },
    };
  });

  it("the first apply stages, the second says already-staged (both inside the zone's window)", async () => {
    const first = await f.agent(['apply']);
    assert.equal(first.code, 0, first.stderr);
    const again = await f.agent(['apply']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.doc.outcome, 'already-staged');
  });
});

describe('finding 7: SIGTERM and SIGINT stop the work cleanly', () => {
  // Large enough that the download is still running when the signal arrives.
  const f = useFaultDevice({ imageBytes: 96 * 1024 * 1024 });

  for (const [signal, exit] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal}: failed/INTERRUPTED, lock released, partial data kept, exit ${exit}`, async () => {
      const child = spawn(process.execPath, [AGENT_BIN, 'apply', '--root', f.dev.root, '--json'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      // Downloads land in the passive slot's incoming directory (docs/transport.md).
      const staging = f.dev.path('slots/b/.incoming');
      const bytesStaged = () => {
        try {
          return readdirSync(staging).reduce(
            (n, name) => n + statSync(join(staging, name)).size,
            0,
          );
        } catch {
          return 0;
        }
      };
      const deadline = Date.now() + 30_000;
      while (bytesStaged() < 1024 * 1024 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      child.kill(signal);
      const code = await exited;
      assert.equal(code, exit);
      const st = readState(f.statePath);
      assert.equal(st.phase, 'failed');
      assertCode(st.reason, 'INTERRUPTED');
      assertCode(JSON.parse(stdout).error.code, 'INTERRUPTED');
      assert.equal(existsSync(f.dev.path('var/lib/kubesolo/update/update.lock')), false);
      assert.ok(bytesStaged() > 0, 'the partial download is kept for resume');
      assert.deepEqual(grubEnv(f.grubenv), {
        active_slot: 'A',
        boot_counter: '3',
        boot_success: '1',
      });
      // The next run completes.
      const again = await f.agent(['apply']);
      assert.equal(again.code, 0, again.stderr);
    });
  }
});

describe('finding 7: a signal in the first moments of an artifact download', () => {
  // A server that answers latest.json from the published release but, for an image,
  // holds the answer: either before the status line or after the headers with no body
  // byte yet. The signal lands while the agent waits for headers, or between the
  // headers and the first body chunk (the partial file has 0 bytes): the window in
  // which an abort once reached a response body nobody listened to yet, and apply hung
  // until a second signal.
  let server: Server;
  let requested: () => void = () => undefined;
  let hold: 'before-headers' | 'after-headers' = 'after-headers';
  beforeEach(async () => {
    server = createServer((req, res) => {
      const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
      if (name.endsWith('.json') || name.endsWith('.sig')) {
        readFile(join(f.releases, name)).then(
          (body) => res.end(body),
          () => res.writeHead(404).end(),
        );
        return;
      }
      if (hold === 'before-headers') {
        requested();
        return;
      }
      // The real length, so the agent accepts the headers and waits for the body.
      stat(join(f.releases, name)).then(
        ({ size }) => {
          res.writeHead(200, { 'content-length': String(size) });
          res.flushHeaders();
          requested();
        },
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  // Registered after the server's hook: the device is made once the server listens.
  const f = useFaultDevice(() => {
    const { port } = server.address() as AddressInfo;
    return { config: { server: `http://127.0.0.1:${port}/` } };
  });

  for (const where of ['before-headers', 'after-headers'] as const) {
    for (const delayMs of [0, 1, 5, 25]) {
      it(`SIGTERM ${delayMs} ms after the image request, ${where}: exit 143, INTERRUPTED, no hang`, async () => {
        hold = where;
        const arrived = new Promise<void>((r) => (requested = r));
        const child = spawn(
          process.execPath,
          [AGENT_BIN, 'apply', '--root', f.dev.root, '--json'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        await arrived;
        await new Promise((r) => setTimeout(r, delayMs));
        child.kill('SIGTERM');
        // One signal must be enough: a second one is never sent. A hang shows as
        // 'hung' (the child is then killed so the suite goes on).
        const outcome = await Promise.race([
          exited,
          new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000).unref()),
        ]);
        if (outcome === 'hung') child.kill('SIGKILL');
        assert.equal(outcome, 143);
        assertCode(JSON.parse(stdout).error.code, 'INTERRUPTED');
        const st = readState(f.statePath);
        assert.equal(st.phase, 'failed');
        assertCode(st.reason, 'INTERRUPTED');
        assert.equal(existsSync(f.dev.path('var/lib/kubesolo/update/update.lock')), false);
      });
    }
  }
});

describe('finding 8: internal errors carry their real code', () => {
  const f = useFaultDevice();

  it('a YAML merge key whose source is not a mapping is CLOUDINIT_YAML_INVALID, not UNEXPECTED', async () => {
    const file = f.dev.path('user-data.yaml');
    await writeFile(file, '#cloud-config\nupdates:\n  health_checks:\n    - <<: 1\n');
    const r = await f.agent(['cloud-init', 'apply', file]);
    expectRefusal(r, 'CLOUDINIT_YAML_INVALID', 2);
  });

  it(
    'a read-only staging directory is named as such, not ENOENT',
    { skip: !isRoot && 'mounts need root' },
    async () => {
      // Downloads land in the passive slot's incoming directory (docs/transport.md).
      const staging = f.dev.path('slots/b/.incoming');
      await mkdir(staging, { recursive: true });
      mount(['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', staging]);
      try {
        const r = await f.agent(['apply']);
        assert.notEqual(r.code, 0);
        assert.notEqual(r.doc.error.code, 'UNEXPECTED');
        assert.doesNotMatch(JSON.stringify(r.doc.error), /ENOENT/);
        assert.match(JSON.stringify(r.doc.error), /EROFS|READ_ONLY/);
      } finally {
        execFileSync('umount', [staging]);
      }
    },
  );
});
