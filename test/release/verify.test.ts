import { strict as assert } from 'node:assert';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KubesoloError } from '../../src/errors.js';
import { generateKeyPair } from '../../src/release/keys.js';
import { publishRelease } from '../../src/release/publish.js';
import { createStaticServer, listen } from '../../src/release/serve.js';
import { metadataUrlFor } from '../../src/metadata/url.js';
import { verifyRelease } from '../../src/release/verify.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useImageFiles } from './image-files.js';
import { silentLogger } from '../../src/log.js';

const files = useImageFiles(
  'ks-verify-',
  Buffer.alloc(300_000, 3),
  Buffer.alloc(500_000, 4),
  'initrd',
);
const key = generateKeyPair();
const pub = new Uint8Array(Buffer.from(key.publicKeyHex, 'hex'));
const fast = { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } };

let n = 0;
async function site(extra: Partial<Parameters<typeof publishRelease>[0]> = {}): Promise<string> {
  const out = files.path(`site${++n}`);
  await publishRelease({
    key: key.privateKey,
    version: 'v1.2.3',
    imagePaths: { vmlinuz: files.kernel, initramfs: files.initramfs },
    outDir: out,
    channel: 'stable',
    expiresInSeconds: 3600,
    ...extra,
  });
  return out;
}

describe('verify', () => {
  it('accepts a fresh release from a directory: metadata and both images signed', async () => {
    const out = await site();
    const seen: string[] = [];
    const r = await verifyRelease({
      log: silentLogger,
      target: out,
      publicKey: pub,
      onMetadata: (m) => seen.push(m.version),
    });
    assert.deepEqual(seen, ['v1.2.3']);
    assert.equal(r.metadataSigned, true);
    assert.match(r.metadataUrl, /^http:\/\/127\.0\.0\.1:\d+\/latest\.json$/);
    assert.deepEqual(
      r.artifacts.map((a) => [a.artifact, a.size, a.signatureVerified]),
      [
        ['vmlinuz', 300_000, true],
        ['initramfs', 500_000, true],
      ],
    );
  });

  it('accepts the same release by URL (folder or latest.json) from a web server', async () => {
    const out = await site();
    const server: Server = await createStaticServer(out, { log: silentLogger });
    const base = await listen(server, { host: '127.0.0.1', port: 0 });
    try {
      for (const target of [base, base + 'latest.json']) {
        const r = await verifyRelease({ log: silentLogger, target, publicKey: pub });
        assert.equal(r.metadataUrl, base + 'latest.json');
        assert.equal(r.metadata.channel, 'stable');
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('accepts raw 64-byte image signatures (kubesolo-release sign --raw)', async () => {
    const out = await site();
    const hex = await readFile(join(out, 'v1.2.3', 'vmlinuz.sig'), 'utf8');
    await writeFile(join(out, 'v1.2.3', 'vmlinuz.sig'), Buffer.from(hex, 'hex'));
    const r = await verifyRelease({ log: silentLogger, target: out, publicKey: pub });
    assert.equal(r.artifacts[0]!.signatureVerified, true);
  });

  it('refuses another key (SIGNATURE_INVALID, exit 4)', async () => {
    const other = new Uint8Array(Buffer.from(generateKeyPair().publicKeyHex, 'hex'));
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: await site(), publicKey: other }),
      'SIGNATURE_INVALID',
      4,
    );
  });

  it('refuses an edited latest.json', async () => {
    const out = await site();
    const p = join(out, 'latest.json');
    await writeFile(p, (await readFile(p, 'utf8')).replace('"stable"', '"beta"'));
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: out, publicKey: pub }),
      'SIGNATURE_INVALID',
      4,
    );
  });

  it('refuses a replaced image of the same size', async () => {
    const out = await site();
    await writeFile(join(out, 'v1.2.3', 'kubesolo-os.gz'), Buffer.alloc(500_000, 5));
    await assert.rejects(
      verifyRelease({ log: silentLogger, target: out, publicKey: pub, limits: fast }),
      (e: KubesoloError) => {
        assert.ok(['HASH_MISMATCH', 'SIGNATURE_INVALID'].includes(e.code), e.code);
        assert.equal(e.exitCode, 4);
        return true;
      },
    );
  });

  it('reports a complete but short image as DOWNLOAD_SIZE_MISMATCH (exit 4)', async () => {
    const out = await site();
    await writeFile(join(out, 'v1.2.3', 'vmlinuz'), Buffer.alloc(1000, 3));
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: out, publicKey: pub, limits: fast }),
      'DOWNLOAD_SIZE_MISMATCH',
      4,
    );
  });

  it('refuses a release whose metadata signature is gone (SIGNATURE_MISSING)', async () => {
    const out = await site();
    await unlink(join(out, 'v1.2.3', 'latest.json.sig'));
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: out, publicKey: pub }),
      'SIGNATURE_MISSING',
      4,
    );
  });

  it('refuses expired metadata (METADATA_EXPIRED)', async () => {
    const out = await site({
      expiresInSeconds: 60,
      clock: { now: () => new Date(Date.now() - 3_600_000) },
    });
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: out, publicKey: pub }),
      'METADATA_EXPIRED',
      4,
    );
  });

  it('a dead server is a network failure (exit 1), a non-directory a usage error', async () => {
    const server = await createStaticServer(files.dir, { log: silentLogger });
    const base = await listen(server, { host: '127.0.0.1', port: 0 });
    await new Promise((r) => server.close(r));
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: base, publicKey: pub, limits: fast }),
      'NETWORK_ERROR',
      1,
    );
    await rejectsWithCode(
      verifyRelease({ log: silentLogger, target: files.kernel, publicKey: pub }),
      'VERIFY_TARGET_INVALID',
      2,
    );
  });

  it('metadataUrlFor maps a folder URL to its latest.json', () => {
    assert.equal(metadataUrlFor('http://h/a/'), 'http://h/a/latest.json');
    assert.equal(metadataUrlFor('http://h/a/meta.json'), 'http://h/a/meta.json');
  });
});
