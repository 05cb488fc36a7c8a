/**
 * A publish killed (SIGKILL) at random moments never leaves a broken release: the
 * site always verifies, as the previous or the new version. The real bundle runs as a
 * child process; no cleanup code gets a chance to run.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePublicKey, publicKeyObject } from '../../src/crypto/keys.js';
import { generateKeyPair, writeKeyPair } from '../../src/release/keys.js';
import type { PublishedLatestJson } from '../../src/release/publish.js';
import { verifyBytes } from '../../src/release/sign.js';
import { RELEASE_BIN, expectRefusal, runRelease } from '../helpers/cli.js';

/** The agent's public key format, read by the one key codec, as a KeyObject for verifyBytes. */
const parsePublicKeyHex = (text: string) => publicKeyObject(parsePublicKey(text));

let dir: string;
let keyPath: string;
let pubHex: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-publish-kill-'));
  const k = await writeKeyPair(join(dir, 'keys'));
  keyPath = k.privateKeyPath;
  pubHex = k.publicKeyHex;
  await writeFile(join(dir, 'k1'), Buffer.alloc(1024 * 1024, 1));
  await writeFile(join(dir, 'i1'), Buffer.alloc(4 * 1024 * 1024, 2));
  await writeFile(join(dir, 'k2'), Buffer.alloc(3 * 1024 * 1024, 3));
  await writeFile(join(dir, 'i2'), Buffer.alloc(12 * 1024 * 1024, 4));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function consistentVersion(out: string): Promise<string> {
  const pub = parsePublicKeyHex(pubHex);
  const bytes = await readFile(join(out, 'latest.json'));
  const meta = JSON.parse(bytes.toString()) as PublishedLatestJson;
  const sig = async (rel: string) =>
    Buffer.from((await readFile(join(out, rel), 'utf8')).trim(), 'hex');
  assert.ok(verifyBytes(pub, bytes, await sig(meta.metadata_sig_url)), 'metadata signature');
  for (const [url, sigUrl, sha] of [
    [meta.vmlinuz_url, meta.vmlinuz_sig_url, meta.vmlinuz_sha256],
    [meta.initramfs_url, meta.initramfs_sig_url, meta.initramfs_sha256],
  ] as const) {
    const data = await readFile(join(out, url));
    assert.equal(createHash('sha256').update(data).digest('hex'), sha, url);
    assert.ok(verifyBytes(pub, data, await sig(sigUrl)), `${url} signature`);
  }
  return meta.version;
}

/** `publish` of release N (images kN and iN) as vN.0.0 into OUT, signed with `key`. */
const publishArgs = (n: 1 | 2, out: string, key = keyPath) => [
  'publish',
  ...['--key', key, '--version', `v${n}.0.0`, '--out', out],
  ...['--kernel', join(dir, `k${n}`), '--initramfs', join(dir, `i${n}`)],
];

const staging = (out: string) => readdirSync(out).find((f) => f.startsWith('.publish-'));
const KILL_AT: ((out: string) => boolean)[] = [
  (out) => staging(out) !== undefined,
  (out) => existsSync(join(out, 'v2.0.0')),
  (out) => readFileSync(join(out, 'latest.json'), 'utf8').includes('"v2.0.0"'),
];
const hit = new Set<string>();

describe('publish killed mid-way', () => {
  it('always leaves a release that verifies, old or new', async () => {
    for (let i = 0; i < KILL_AT.length; i++) {
      const out = join(dir, `site${i}`);
      const first = await runRelease(publishArgs(1, out));
      assert.equal(first.code, 0, first.stderr);
      const child = spawn(process.execPath, [RELEASE_BIN, ...publishArgs(2, out)], {
        stdio: 'ignore',
      });
      let done = false;
      const exited = new Promise<void>((resolve) =>
        child.on('close', () => {
          done = true;
          resolve();
        }),
      );
      // Kill at a moment chosen by what is on disk: staging started, the new version
      // folder renamed into place, or latest.json replaced (before the top-level
      // signature copy). Polled every millisecond.
      const moment = KILL_AT[i % KILL_AT.length]!;
      while (!done && !moment(out)) await new Promise((r) => setTimeout(r, 1));
      const killed = !done;
      child.kill('SIGKILL');
      await exited;
      hit.add(`${i % KILL_AT.length}:${killed ? 'killed' : 'finished'}`);
      const v = await consistentVersion(out);
      assert.ok(v === 'v1.0.0' || v === 'v2.0.0', v);
    }
    // The test did interrupt publishes: a kill once staging has begun lands before the
    // images (15 MiB) are written.
    assert.ok(hit.has('0:killed'), [...hit].join(' '));
  });

  it('a wrong key never publishes (exit 2, site unchanged)', async () => {
    const out = join(dir, 'site-key');
    const first = await runRelease(publishArgs(1, out));
    assert.equal(first.code, 0, first.stderr);
    const other = join(dir, 'other.pem');
    await writeFile(other, generateKeyPair().privateKeyPem.replace('PRIVATE KEY', 'PUBLIC KEY'));
    const r = await runRelease(publishArgs(2, out, other));
    expectRefusal(r, 'KEY_INVALID', 2);
    assert.equal(await consistentVersion(out), 'v1.0.0');
  });
});
