/** References, WWW-Authenticate challenges, docker config.json credentials, manifests. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  parseIndex,
  parseManifest,
  releaseLayers,
  selectPlatform,
} from '../../src/transport/oci/artifact.js';
import {
  parseWwwAuthenticate,
  readDockerConfigCredentials,
  resolveCredentials,
} from '../../src/transport/oci/auth.js';
import {
  LAYER_INITRAMFS,
  LAYER_KERNEL,
  LAYER_METADATA,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../../src/transport/oci/media-types.js';
import { formatReference, parseRegistryReference } from '../../src/transport/oci/reference.js';
import { goArch } from '../../src/metadata/arch.js';
import { rejectsWithCode, throwsWithCode } from '../helpers/rejects.js';

function throwsCode(fn: () => unknown, code: string, exitCode: number): void {
  throwsWithCode(fn, code, exitCode);
}

describe('parseRegistryReference', () => {
  it('uses http for loopback hosts and https for everything else', () => {
    const cases: [string, string, string][] = [
      ['127.0.0.1:5000/kubesolo/os', 'http', 'http://127.0.0.1:5000'],
      ['localhost:5000/os', 'http', 'http://localhost:5000'],
      ['[::1]:5000/os', 'http', 'http://[::1]:5000'],
      ['127.8.9.10/os', 'http', 'http://127.8.9.10'],
      ['ghcr.io/portainer/kubesolo-os', 'https', 'https://ghcr.io'],
      ['registry.lan:5000/kubesolo/os', 'https', 'https://registry.lan:5000'],
      ['http://registry.lan:5000/kubesolo/os', 'http', 'http://registry.lan:5000'],
      ['https://127.0.0.1:5443/os', 'https', 'https://127.0.0.1:5443'],
      ['127.0.0.1.example.com/os', 'https', 'https://127.0.0.1.example.com'],
    ];
    for (const [input, scheme, base] of cases) {
      const ref = parseRegistryReference(input);
      assert.equal(ref.scheme, scheme, input);
      assert.equal(ref.baseUrl, base, input);
    }
  });

  it('splits repository, tag and digest', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    assert.deepEqual(parseRegistryReference('r.io:443/a/b-c_d.e:v1.2.3-amd64'), {
      scheme: 'https',
      host: 'r.io:443',
      repository: 'a/b-c_d.e',
      tag: 'v1.2.3-amd64',
      baseUrl: 'https://r.io:443',
    });
    const withDigest = parseRegistryReference(`r.io/a@${d}`);
    assert.equal(withDigest.digest, d);
    assert.equal(withDigest.tag, undefined);
    assert.equal(formatReference(withDigest), `r.io/a@${d}`);
    assert.equal(formatReference(withDigest, 'v1'), 'r.io/a:v1');
    assert.equal(formatReference(parseRegistryReference('r.io/a')), 'r.io/a');
  });

  it('maps Docker Hub to its API host and library/ namespace', () => {
    const ref = parseRegistryReference('docker.io/busybox:1');
    assert.equal(ref.host, 'registry-1.docker.io');
    assert.equal(ref.repository, 'library/busybox');
  });

  it('refuses malformed references (INVALID_REGISTRY_REFERENCE, exit 2)', () => {
    for (const bad of [
      'noslash',
      '/repo',
      'host/UpperCase',
      'host/repo:bad tag',
      'host/repo@sha256:short',
      'ho st/repo',
      'host/a//b',
    ]) {
      throwsCode(() => parseRegistryReference(bad), 'INVALID_REGISTRY_REFERENCE', 2);
    }
  });
});

describe('parseWwwAuthenticate (RFC 7235 §4.1)', () => {
  it('reads a bearer challenge with quoted params, commas inside quotes included', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    );
    assert.equal(c!.scheme, 'bearer');
    assert.deepEqual(c!.params, {
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull,push',
    });
  });

  it('reads several challenges, token values and escaped quotes', () => {
    const cs = parseWwwAuthenticate('Basic realm="a \\"b\\"", Bearer realm=x, error=invalid_token');
    assert.deepEqual(
      cs.map((c) => [c.scheme, c.params]),
      [
        ['basic', { realm: 'a "b"' }],
        ['bearer', { realm: 'x', error: 'invalid_token' }],
      ],
    );
    assert.deepEqual(parseWwwAuthenticate(''), []);
    assert.deepEqual(
      parseWwwAuthenticate('Negotiate').map((c) => c.scheme),
      ['negotiate'],
    );
  });
});

describe('docker config.json credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ks-oci-auth-'));
  const file = (name: string, content: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };

  it('decodes auths[host].auth and matches keys written with a scheme or path', async () => {
    const p = file('a.json', {
      auths: {
        'https://registry.lan:5000/v2/': { auth: Buffer.from('me:pa:ss').toString('base64') },
        'https://index.docker.io/v1/': { username: 'hub', password: 'pw', identitytoken: 'rt' },
        'tok.lan': { registrytoken: 'abc' },
      },
    });
    assert.deepEqual(await readDockerConfigCredentials(p, 'registry.lan:5000'), {
      username: 'me',
      password: 'pa:ss',
    });
    assert.deepEqual(await readDockerConfigCredentials(p, 'registry-1.docker.io'), {
      username: 'hub',
      password: 'pw',
      identityToken: 'rt',
    });
    assert.deepEqual(await readDockerConfigCredentials(p, 'tok.lan'), { registryToken: 'abc' });
    assert.equal(await readDockerConfigCredentials(p, 'other.lan'), undefined);
    assert.equal(await readDockerConfigCredentials(file('b.json', {}), 'x'), undefined);
  });

  it('reports unusable files as REGISTRY_AUTH_FILE_INVALID (exit 2)', async () => {
    await rejectsWithCode(
      readDockerConfigCredentials(join(dir, 'missing.json'), 'x'),
      'REGISTRY_AUTH_FILE_INVALID',
      2,
    );
    await rejectsWithCode(
      readDockerConfigCredentials(file('c.json', '{not json'), 'x'),
      'REGISTRY_AUTH_FILE_INVALID',
      2,
    );
    await rejectsWithCode(
      readDockerConfigCredentials(file('d.json', '[]'), 'x'),
      'REGISTRY_AUTH_FILE_INVALID',
      2,
    );
    await rejectsWithCode(
      readDockerConfigCredentials(file('e.json', { auths: { x: 1 } }), 'x'),
      'REGISTRY_AUTH_FILE_INVALID',
      2,
    );
    await rejectsWithCode(
      readDockerConfigCredentials(
        file('f.json', { auths: { x: { auth: Buffer.from('nocolon').toString('base64') } } }),
        'x',
      ),
      'REGISTRY_AUTH_FILE_INVALID',
      2,
    );
    await rejectsWithCode(
      readDockerConfigCredentials(file('g.json', { auths: 'x' }), 'x'),
      'REGISTRY_AUTH_FILE_INVALID',
      2,
    );
  });

  it('prefers registry_username/password over the auth file and wants both halves', async () => {
    const p = file('h.json', { auths: { x: { auth: Buffer.from('f:g').toString('base64') } } });
    assert.deepEqual(await resolveCredentials({ username: 'u', password: 'p', authFile: p }, 'x'), {
      username: 'u',
      password: 'p',
    });
    assert.deepEqual(await resolveCredentials({ authFile: p }, 'x'), {
      username: 'f',
      password: 'g',
    });
    assert.equal(await resolveCredentials({}, 'x'), undefined);
    await rejectsWithCode(
      resolveCredentials({ username: 'u' }, 'x'),
      'REGISTRY_CREDENTIALS_INCOMPLETE',
      2,
    );
    await rejectsWithCode(
      resolveCredentials({ password: 'p' }, 'x'),
      'REGISTRY_CREDENTIALS_INCOMPLETE',
      2,
    );
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('manifest and index parsing', () => {
  const d = (c: string) => 'sha256:' + c.repeat(64);
  const layer = (mediaType: string, c: string) => ({ mediaType, digest: d(c), size: 10 });
  const manifest = (layers: unknown[], extra: Record<string, unknown> = {}) => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: d('4'), size: 2 },
    layers,
    ...extra,
  });

  it('finds the kernel, initramfs and metadata layers and ignores others', () => {
    const m = parseManifest(
      manifest([
        layer('application/x-other', '9'),
        layer(LAYER_INITRAMFS, '2'),
        layer(LAYER_KERNEL, '1'),
        layer(LAYER_METADATA, '3'),
      ]),
      OCI_MANIFEST,
      'r',
    );
    const l = releaseLayers(m, 'r');
    assert.equal(l.images.vmlinuz.digest, d('1'));
    assert.equal(l.images.initramfs.digest, d('2'));
    assert.equal(l.metadata?.digest, d('3'));
    assert.equal(
      releaseLayers(
        parseManifest(
          manifest([layer(LAYER_KERNEL, '1'), layer(LAYER_INITRAMFS, '2')]),
          OCI_MANIFEST,
          'r',
        ),
        'r',
      ).metadata,
      undefined,
    );
  });

  it('refuses malformed manifests (OCI_MANIFEST_INVALID, exit 4)', () => {
    const bad: unknown[] = [
      null,
      [],
      { ...manifest([]), schemaVersion: 1 },
      { schemaVersion: 2, config: {} },
      manifest([{ mediaType: LAYER_KERNEL, digest: 'md5:abc', size: 1 }]),
      manifest([{ mediaType: LAYER_KERNEL, digest: d('1'), size: -1 }]),
      manifest([{ mediaType: '', digest: d('1'), size: 1 }]),
      manifest([{ mediaType: LAYER_KERNEL, digest: d('1'), size: 1, annotations: { a: 1 } }]),
      manifest([], { annotations: 'x' }),
      manifest([{ mediaType: LAYER_KERNEL, digest: d('1'), size: 1, platform: { os: 'linux' } }]),
      manifest([7]),
    ];
    for (const b of bad)
      throwsCode(() => parseManifest(b, OCI_MANIFEST, 'r'), 'OCI_MANIFEST_INVALID', 4);
    const parsed = (layers: unknown[]) => parseManifest(manifest(layers), OCI_MANIFEST, 'r');
    throwsCode(
      () => releaseLayers(parsed([layer(LAYER_INITRAMFS, '2')]), 'r'),
      'OCI_MANIFEST_INVALID',
      4,
    );
    throwsCode(
      () => releaseLayers(parsed([layer(LAYER_KERNEL, '1')]), 'r'),
      'OCI_MANIFEST_INVALID',
      4,
    );
    throwsCode(
      () =>
        releaseLayers(
          parsed([layer(LAYER_KERNEL, '1'), layer(LAYER_KERNEL, '5'), layer(LAYER_INITRAMFS, '2')]),
          'r',
        ),
      'OCI_MANIFEST_INVALID',
      4,
    );
  });

  it('selects the linux manifest for an architecture from an index', () => {
    const entry = (arch: string, os: string, c: string, mediaType = OCI_MANIFEST) => ({
      mediaType,
      digest: d(c),
      size: 100,
      platform: { architecture: arch, os, ...(arch === 'arm' ? { variant: 'v7' } : {}) },
    });
    const index = parseIndex(
      {
        schemaVersion: 2,
        manifests: [
          entry('amd64', 'windows', '1'),
          entry('amd64', 'linux', '2'),
          entry('arm', 'linux', '3'),
          entry('arm64', 'linux', '4', OCI_INDEX),
          { mediaType: OCI_MANIFEST, digest: d('5'), size: 1 },
        ],
      },
      OCI_INDEX,
      'r',
    );
    assert.equal(selectPlatform(index, 'amd64')?.digest, d('2'));
    assert.equal(selectPlatform(index, 'arm')?.platform?.variant, 'v7');
    assert.equal(selectPlatform(index, 'arm64'), undefined, 'a nested index is not a manifest');
    assert.equal(selectPlatform(index, 'riscv64'), undefined);
    throwsCode(() => parseIndex({ schemaVersion: 2 }, OCI_INDEX, 'r'), 'OCI_MANIFEST_INVALID', 4);
    throwsCode(() => parseIndex('x', OCI_INDEX, 'r'), 'OCI_MANIFEST_INVALID', 4);
  });

  it('maps Node architectures to Go names', () => {
    assert.equal(goArch('x64'), 'amd64');
    assert.equal(goArch('arm64'), 'arm64');
    assert.equal(goArch('ia32'), '386');
    assert.equal(goArch('mips'), 'mips');
    assert.equal(typeof goArch(), 'string');
  });
});
