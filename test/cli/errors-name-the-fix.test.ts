/**
 * Errors that name the fix (issue 29), through the built binaries where the operator
 * reads them: each says what is wrong and what to do.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  formatLocalDateTime,
  formatLocalTime,
  parseMaintenanceWindow,
} from '../../src/config/window.js';
import { logLines, runAgent, runAgentJson, runRelease, expectRefusal } from '../helpers/cli.js';
import { nextOpening } from '../helpers/window.js';
import { makeKeys, publishRelease } from '../helpers/device.js';
import { useSignedDevice } from '../helpers/device-fixture.js';
import { useTempDir } from '../helpers/tree.js';
import { loggedLine } from '../helpers/code-log-line.js';
import { assertCode } from '../helpers/code-assert.js';

/** The fingerprint as the issue defines it, computed here from the key's hex. */
const fingerprintOf = (hex: string) =>
  createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex').slice(0, 16);

describe('keys are named by one fingerprint: keygen, verify, status and the refusal', () => {
  const tmp = useTempDir('ks-fingerprint-', 'all');

  it('keygen prints it; verify prints the configured key and the signer; another key is named in SIGNATURE_INVALID', async () => {
    const gen = await runRelease(['keygen', '--out', tmp.path('k1')]);
    assert.equal(gen.code, 0, gen.stderr);
    const pub1 = (await readFile(tmp.path('k1', 'release.pub'), 'utf8')).trim();
    const fp1 = fingerprintOf(pub1);
    assert.match(gen.stdout, new RegExp(`^fingerprint: ${fp1}$`, 'm'));
    const gen2 = await runRelease(['keygen', '--out', tmp.path('k2'), '--json']);
    const doc2 = JSON.parse(gen2.stdout) as { publicKeyHex: string; fingerprint: string };
    const fp2 = fingerprintOf(doc2.publicKeyHex);
    assert.equal(doc2.fingerprint, fp2);

    const images = tmp.path('images');
    await mkdir(images);
    await writeFile(join(images, 'vmlinuz'), Buffer.alloc(3000, 1));
    await writeFile(join(images, 'kubesolo-os.gz'), Buffer.alloc(4000, 2));
    const site = tmp.path('site');
    const pub = await runRelease([
      'publish',
      '--key',
      tmp.path('k1', 'release.key'),
      '--release-version',
      'v0.2.0',
      '--kernel',
      join(images, 'vmlinuz'),
      '--initramfs',
      join(images, 'kubesolo-os.gz'),
      '--out',
      site,
    ]);
    assert.equal(pub.code, 0, pub.stderr);

    const ok = await runRelease(['verify', '--pubkey', tmp.path('k1', 'release.pub'), site]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^key +${fp1} \\(.*release\\.pub:1\\)$`, 'm'));
    assert.match(ok.stdout, new RegExp(`signature verified \\(key ${fp1}\\)`));

    const bad = await runRelease(['verify', '--pubkey', doc2.publicKeyHex, site]);
    assert.equal(bad.code, 4);
    const err = loggedLine(bad.stderr, 'SIGNATURE_INVALID', 4);
    assert.match(String(err.msg), new RegExp(`does not verify with the configured key ${fp2}`));
    assert.match(String(err.msg), /signed by another key/);
    assert.match(String(err.msg), /install that key .*or republish signed with a configured key/);
    assert.deepEqual(err.configured_keys, [fp2]);
  });
});

describe('the agent on a device that trusts one key', () => {
  const keys = makeKeys();
  const f = useSignedDevice(keys);
  const releases = f.releases;
  /** update.conf keys added after the fixture's (server, pubkey, the slots). */
  const addConfig = (lines: Record<string, string>) =>
    appendFile(
      f.dev.path('etc/kubesolo/update.conf'),
      Object.entries(lines)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );

  describe('the agent names its keys by fingerprint (status, a refused signature)', () => {
    it('status shows the configured keys; check refuses a release by another key naming them', async () => {
      await publishRelease(releases.dir, { version: 'v1.1.0', keys: makeKeys() });
      const fp = fingerprintOf(keys.publicHex);

      const status = await runAgent(['status', '--root', f.dev.root]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`^Keys: +${fp} \\(.*update\\.pub:1\\)$`, 'm'));
      const statusJson = await runAgentJson(['status', '--root', f.dev.root]);
      const shown = statusJson.doc.keys as { keys: { fingerprint: string }[] };
      assert.deepEqual(
        shown.keys.map((k) => k.fingerprint),
        [fp],
      );

      const check = await runAgentJson(['check', '--root', f.dev.root]);
      expectRefusal(check, 'SIGNATURE_INVALID', 4);
      assert.match(
        check.doc.error.message,
        new RegExp(
          `metadata signature does not verify with the configured key ${fp}: signed by another key`,
        ),
      );
    });

    it('an image signed by another key (unsigned metadata allowed) names the configured key too', async () => {
      await addConfig({ allow_unsigned_metadata: 'true' });
      await publishRelease(releases.dir, { version: 'v1.1.0', keys: makeKeys() });
      // Unsigned metadata: only the images' own signatures (by another key) remain.
      await rm(join(releases.dir, 'latest.json.sig'));
      const md = JSON.parse(await readFile(join(releases.dir, 'latest.json'), 'utf8'));
      delete md.metadata_sig_url;
      await writeFile(join(releases.dir, 'latest.json'), JSON.stringify(md));
      const r = await runAgentJson(['apply', '--root', f.dev.root]);
      expectRefusal(r, 'SIGNATURE_INVALID', 4);
      assert.match(
        r.doc.error.message,
        new RegExp(
          `signature of .* does not verify with the configured key ${fingerprintOf(keys.publicHex)}`,
        ),
      );
    });
  });

  describe('an expired release says when it expired and what to do', () => {
    it('check: METADATA_EXPIRED with the expiry, the clock, --expires-in and the device clock', async () => {
      await publishRelease(releases.dir, {
        version: 'v1.1.0',
        keys,
        patch: { expires: '2020-01-02T03:04:05Z' },
      });
      const r = await runAgentJson(['check', '--root', f.dev.root]);
      expectRefusal(r, 'METADATA_EXPIRED', 4);
      assert.match(
        r.doc.error.message,
        /expired at 2020-01-02T03:04:05Z \(this device's clock says 20\d\d-/,
      );
      assert.match(r.doc.error.message, /republish with --expires-in, or check the device clock$/);
    });
  });

  describe('--server https:// against a plain-HTTP server', () => {
    it('check: TLS_PLAIN_HTTP_SERVER says use http:// or enable TLS, and is not retried', async () => {
      await publishRelease(releases.dir, { version: 'v1.1.0', keys });
      // The same loopback server, asked for TLS: it answers the ClientHello in plain HTTP.
      const https = releases.server.url.replace(/^http:/, 'https:');
      const r = await runAgentJson(['check', '--root', f.dev.root, '--server', https]);
      expectRefusal(r, 'TLS_PLAIN_HTTP_SERVER', 1);
      assert.match(
        r.doc.error.message,
        /the server answered in plain HTTP: use http:\/\/, or enable TLS on the server$/,
      );
      assert.doesNotMatch(r.doc.error.message, /SSL routines|openssl/i);
      assert.equal(
        logLines(r.stderr).filter((l) => l.msg === 'transfer failed, retrying').length,
        0,
        r.stderr,
      );
      const v = await runRelease(['verify', '--pubkey', keys.publicHex, https]);
      assert.equal(v.code, 1, v.stderr);
      assertCode(logLines(v.stderr).at(-1)?.code, 'TLS_PLAIN_HTTP_SERVER', 1);
    });
  });

  describe('a slot version file that holds no version', () => {
    it('check names the file and what a version looks like', async () => {
      await publishRelease(releases.dir, { version: 'v1.1.0', keys });
      await writeFile(f.dev.path('slots/a/version'), 'latest\n');
      const file = f.dev.path('slots/a/version');
      const r = await runAgentJson(['check', '--root', f.dev.root]);
      expectRefusal(r, 'SLOT_INVALID_VERSION', 1);
      assert.equal(
        r.doc.error.message,
        `${file} holds "latest", not a version (expected [v]MAJOR.MINOR.PATCH[-pre][+build], e.g. v1.2.3; ` +
          `docs/formats.md "Versions"): write the slot's release version into it`,
      );
      // status shows the same problem instead of "latest" as if it were a version.
      const s = await runAgent(['status', '--root', f.dev.root]);
      assert.equal(s.code, 1, s.stderr);
      assert.match(
        s.stdout,
        /^Problem: +slot A: SLOT_INVALID_VERSION: .*slots\/a\/version holds "latest"/m,
      );
    });
  });

  describe('sizes in human units in text, bytes in --json', () => {
    it('check prints free space and download sizes in KiB/MiB/GiB; --json keeps the bytes; apply reports no rate of 0', async () => {
      await publishRelease(releases.dir, {
        version: 'v1.1.0',
        keys,
        kernelBytes: 64 * 1024,
        initramfsBytes: 3 * 1024 * 1024,
      });
      const text = await runAgent(['check', '--root', f.dev.root]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^Download vmlinuz: 64\.0 KiB, the whole image/m);
      assert.match(text.stdout, /^Download initramfs: 3\.0 MiB, the whole image/m);
      const free = /^ +ok +free_space +.*: (\d+\.\d) ([KMGT]iB) free, (\d+\.\d) MiB needed$/m.exec(
        text.stdout,
      );
      assert.ok(free, text.stdout);
      assert.doesNotMatch(text.stdout, /\d{6,} bytes/);

      const json = await runAgentJson(['check', '--root', f.dev.root]);
      const gate = (json.doc.gates as Record<string, unknown>[]).find(
        (g) => g.gate === 'free_space',
      )!;
      assert.equal(typeof gate.free_bytes, 'number');
      // image + 10 %: exact bytes, as the gate computes them.
      assert.equal(gate.needed_bytes, Math.ceil((64 * 1024 + 3 * 1024 * 1024) * 1.1));

      const apply = await runAgent(['apply', '--root', f.dev.root]);
      assert.equal(apply.code, 0, apply.stderr);
      const progress = logLines(apply.stderr).filter((l) => l.msg === 'download progress');
      assert.ok(
        progress.some((l) => l.artifact === 'vmlinuz'),
        apply.stderr,
      );
      for (const l of progress) assert.notEqual(l.rate_bytes_per_s, 0, JSON.stringify(l));
    });
  });

  describe('a window refusal says when the window opens next', () => {
    it('activate (OUTSIDE_MAINTENANCE_WINDOW) and apply --activate (ACTIVATION_DEFERRED): text and --json', async () => {
      const zone = 'Europe/Berlin';
      // A window that opens two hours from now on Berlin's wall clock, for an hour.
      const wall = (at: Date) => formatLocalTime(at, zone);
      const now = Date.now();
      const window = `${wall(new Date(now + 2 * 3600_000))}-${wall(new Date(now + 3 * 3600_000))}`;
      const expected = nextOpening(parseMaintenanceWindow(window), new Date(now), zone)!;
      await addConfig({ maintenance_window: window, time_zone: zone, commit_deadline: '600' });
      await publishRelease(releases.dir, { version: 'v1.1.0', keys });

      const deferred = await runAgentJson(['apply', '--activate', '--root', f.dev.root]);
      expectRefusal(deferred, 'ACTIVATION_DEFERRED', 3);
      assert.equal(deferred.doc.error.next_window_opens_at, expected.toISOString());
      const words = `next window opens at ${formatLocalDateTime(expected, zone)} ${zone}`;
      assert.ok(String(deferred.doc.error.message).includes(words), deferred.doc.error.message);

      const text = await runAgent(['activate', '--root', f.dev.root]);
      assert.equal(text.code, 3, text.stderr);
      const refusal = loggedLine(text.stderr, 'OUTSIDE_MAINTENANCE_WINDOW', 3);
      assert.match(
        String(refusal.msg),
        new RegExp(`outside maintenance window ${window} .*; ${words}$`),
      );
      assert.equal(refusal.next_window_opens_at, expected.toISOString());

      const check = await runAgentJson(['check', '--root', f.dev.root]);
      const gate = (check.doc.gates as Record<string, unknown>[]).find(
        (g) => g.gate === 'maintenance_window',
      )!;
      assert.equal(gate.next_window_opens_at, expected.toISOString());
    });
  });
});
