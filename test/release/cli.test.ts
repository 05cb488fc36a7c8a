import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RELEASE_BIN, expectRefusal, runRelease } from '../helpers/cli.js';
import { assertCode } from '../helpers/code-assert.js';
import { opensslVerify } from '../helpers/openssl-verify.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-release-cli-'));
  await writeFile(join(dir, 'vmlinuz'), Buffer.alloc(5000, 1));
  await writeFile(join(dir, 'kubesolo-os.gz'), Buffer.alloc(7000, 2));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `publish` of the two images as VERSION into OUT, with the key keygen wrote. */
const publishArgs = (version: string, out: string) => [
  'publish',
  ...['--key', join(dir, 'keys', 'release.key'), '--version', version, '--out', out],
  ...['--kernel', join(dir, 'vmlinuz'), '--initramfs', join(dir, 'kubesolo-os.gz')],
];

describe('kubesolo-release keygen / sign / publish (bundle)', () => {
  it('keygen writes the pair, prints the public key, and refuses to overwrite (exit 2)', async () => {
    const r = await runRelease(['keygen', '--out', join(dir, 'keys')]);
    assert.equal(r.code, 0, r.stderr);
    const pub = (await readFile(join(dir, 'keys', 'release.pub'), 'utf8')).trim();
    assert.match(pub, /^[0-9a-f]{64}$/);
    assert.ok(r.stdout.includes(pub));
    assert.equal((await stat(join(dir, 'keys', 'release.key'))).mode & 0o777, 0o600);
    const again = await runRelease(['keygen', '--out', join(dir, 'keys')]);
    expectRefusal(again, 'KEY_EXISTS', 2);
    assert.equal((await readFile(join(dir, 'keys', 'release.pub'), 'utf8')).trim(), pub);
    const forced = await runRelease(['keygen', '--out', join(dir, 'keys2'), '--json']);
    assert.equal(forced.code, 0);
    const doc = JSON.parse(forced.stdout) as { ok: boolean; publicKeyHex: string };
    assert.equal(doc.ok, true);
    assert.match(doc.publicKeyHex, /^[0-9a-f]{64}$/);
    assert.equal((await runRelease(['keygen'])).code, 2);
  });

  it('sign writes FILE.sig (hex, or raw with --raw) that openssl verifies', async () => {
    const key = join(dir, 'keys', 'release.key');
    const r = await runRelease([
      'sign',
      '--key',
      key,
      join(dir, 'vmlinuz'),
      join(dir, 'kubesolo-os.gz'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(await readFile(join(dir, 'vmlinuz.sig'), 'utf8'), /^[0-9a-f]{128}$/);
    const raw = await runRelease(['sign', '--raw', '--key', key, join(dir, 'kubesolo-os.gz')]);
    assert.equal(raw.code, 0);
    const sig = join(dir, 'kubesolo-os.gz.sig');
    assert.equal((await readFile(sig)).length, 64);
    const pubPem = join(dir, 'pub.pem');
    execFileSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pubPem]);
    const out = opensslVerify(pubPem, join(dir, 'kubesolo-os.gz'), sig);
    assert.match(out, /Signature Verified Successfully/);
    const missing = await runRelease(['sign', '--key', key, join(dir, 'nope')]);
    expectRefusal(missing, 'FILE_UNREADABLE', 1);
    assert.equal((await runRelease(['sign', '--key', key])).code, 2);
    assert.equal(
      (await runRelease(['sign', '--key', join(dir, 'vmlinuz'), join(dir, 'vmlinuz')])).code,
      2,
    );
  });

  it('publish lays out the release and prints sizes and hashes', async () => {
    const out = join(dir, 'site');
    const r = await runRelease([
      ...publishArgs('v0.2.0', out),
      ...['--channel', 'stable', '--arch', 'amd64', '--expires-in', '30d', '--json'],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { metadata: Record<string, unknown> };
    const meta = JSON.parse(await readFile(join(out, 'latest.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(meta, doc.metadata);
    assert.equal(meta.vmlinuz_size, 5000);
    assert.equal(meta.initramfs_size, 7000);
    assert.ok(Date.parse(meta.expires as string) - Date.now() > 29 * 86_400_000);
    const bad = await runRelease([...publishArgs('v0.3.0', out), '--expires-in', 'soon']);
    expectRefusal(bad, 'INVALID_DURATION', 2);
    const noOut = await runRelease([
      'publish',
      ...['--key', 'k', '--version', 'v', '--kernel', 'k', '--initramfs', 'i'],
    ]);
    expectRefusal(noOut, 'MISSING_OPTION', 2);
  });
});

describe('kubesolo-release serve (bundle)', () => {
  it('prints its URL, serves ranges, and stops cleanly on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [RELEASE_BIN, 'serve', join(dir, 'site'), '--listen', '127.0.0.1:0'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /serving .* at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    const meta = await fetch(new URL('latest.json', url));
    assert.equal(meta.status, 200);
    const body = (await meta.json()) as { vmlinuz_url: string };
    const part = await fetch(new URL(body.vmlinuz_url, url), { headers: { Range: 'bytes=0-99' } });
    assert.equal(part.status, 206);
    assert.equal((await part.arrayBuffer()).byteLength, 100);
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('a bad --listen or a missing DIR is a usage error', async () => {
    const a = await runRelease(['serve', dir, '--listen', 'nonsense']);
    assert.equal(a.code, 2);
    const b = await runRelease(['serve', join(dir, 'nope'), '--listen', '127.0.0.1:0']);
    expectRefusal(b, 'SERVE_DIR_MISSING', 2);
  });
});

describe('kubesolo-release verify (bundle)', () => {
  it('verifies a published directory (exit 0) and refuses another key (exit 4)', async () => {
    const site = join(dir, 'site');
    const ok = await runRelease(['verify', '--pubkey', join(dir, 'keys', 'release.pub'), site]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /metadata .*version v0\.2\.0.*signature verified/);
    assert.match(ok.stdout, /^vmlinuz +5000 bytes, sha256 [0-9a-f]{64}, signature verified$/m);
    assert.match(ok.stdout, /^OK: release v0\.2\.0/m);
    const hex = (await readFile(join(dir, 'keys2', 'release.pub'), 'utf8')).trim();
    const bad = await runRelease(['verify', '--pubkey', hex, site, '--json']);
    assert.equal(bad.code, 4);
    const doc = JSON.parse(bad.stdout) as { ok: boolean; error: { code: string } };
    assertCode(doc.error.code, 'SIGNATURE_INVALID', 4);
    const noKey = await runRelease(['verify', site]);
    assert.equal(noKey.code, 2);
    // A 5000-byte image is no key file: refused by the key file's size limit, exit 2.
    const badKey = await runRelease(['verify', '--pubkey', join(dir, 'vmlinuz'), site]);
    expectRefusal(badKey, 'PUBKEY_UNREADABLE', 2);
  });
});
