/**
 * Registry authentication against the real reference registry: htpasswd basic auth
 * (htpasswd -B), and token auth with a loopback token service that signs ES256 JWTs
 * the registry verifies through its rootcertbundle (the bearer challenge flow).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registrySkipReason, startTokenServer, type TokenServer } from '../helpers/registry.js';
import { makeKeys, sha256, skopeoRaw, useRegistry, type ReleaseFiles } from './fixtures.js';
import { rejectsWithCode } from '../helpers/rejects.js';

const skip = registrySkipReason();
const USER = 'ci-publisher';
const PASS = 'correct horse: battery staple';

describe('OCI registry behind htpasswd basic auth', { skip }, () => {
  const fx = useRegistry({ htpasswd: { username: USER, password: PASS } });
  let files: ReleaseFiles;
  const keys = makeKeys();

  before(async () => {
    files = fx.files('basic', 20_001, 30_001);
    await fx.push('kubesolo/os', 'v1.2.0', files, {
      signingKey: keys.privateKey,
      credentials: { username: USER, password: PASS },
    });
  });

  it('the registry really requires credentials (skopeo without them fails, with them reads the index)', async () => {
    await assert.rejects(skopeoRaw(`${fx.reg.host}/kubesolo/os:v1.2.0`));
    const index = await skopeoRaw(`${fx.reg.host}/kubesolo/os:v1.2.0`, `${USER}:${PASS}`);
    assert.equal(index.manifests[0]!.platform.architecture, 'amd64');
  });

  it('pulls with credentials from a docker-style config.json (auths → base64 auth)', async () => {
    const authFile = join(fx.work, 'config.json');
    writeFileSync(
      authFile,
      JSON.stringify({
        auths: {
          'other.example:5000': { auth: Buffer.from('x:y').toString('base64') },
          [`http://${fx.reg.host}`]: { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') },
        },
      }),
    );
    const source = fx.source('kubesolo/os', 'v1.2.0', {
      publicKey: keys.publicKey,
      credentials: { authFile },
    });
    const release = await source.fetchRelease();
    const staged = await source.stage(release, 'vmlinuz', { stagingDir: join(fx.work, 's1') });
    assert.ok(readFileSync(staged.path).equals(files.kernel));
  });

  it('pulls with registry_username / registry_password', async () => {
    const source = fx.source('kubesolo/os', 'v1.2.0', {
      publicKey: keys.publicKey,
      credentials: { username: USER, password: PASS },
    });
    const release = await source.fetchRelease();
    assert.equal(release.metadata.images.initramfs.sha256, sha256(files.initramfs));
  });

  it('refuses without credentials (REGISTRY_AUTH_REQUIRED, exit 2) and with wrong ones (REGISTRY_AUTH_FAILED, exit 2)', async () => {
    const source = (credentials?: { username: string; password: string }) =>
      fx.source('kubesolo/os', 'v1.2.0', { allowUnsigned: true, credentials });
    await rejectsWithCode(source().fetchRelease(), 'REGISTRY_AUTH_REQUIRED', 2);
    await rejectsWithCode(
      source({ username: USER, password: 'wrong' }).fetchRelease(),
      'REGISTRY_AUTH_FAILED',
      2,
    );
  });
});

describe('OCI registry behind token auth (bearer challenge flow)', { skip }, () => {
  let tokens: TokenServer;
  before(async () => {
    tokens = await startTokenServer({ username: USER, password: PASS, anonymousPull: true });
  });
  after(() => tokens?.stop());
  const fx = useRegistry(() => ({
    token: {
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertBundle: tokens.rootCertBundle,
    },
  }));
  let files: ReleaseFiles;
  const keys = makeKeys();

  before(() => {
    files = fx.files('token', 10_001, 40_001);
  });

  it('pushes with a token obtained with basic credentials for pull,push scope', async () => {
    await fx.push('kubesolo/os', 'v2.0.0', files, {
      signingKey: keys.privateKey,
      credentials: { username: USER, password: PASS },
      uploadMode: 'chunked',
      chunkSize: 16 * 1024,
    });
    const req = tokens.requests.at(-1)!;
    assert.equal(req.user, USER);
    assert.equal(req.service, tokens.service);
    assert.deepEqual(req.scope, ['repository:kubesolo/os:pull,push']);
    // skopeo, through the same token service, sees what we pushed.
    const manifest = await skopeoRaw(`${fx.reg.host}/kubesolo/os:v2.0.0-amd64`, `${USER}:${PASS}`);
    assert.equal(manifest.layers[1]!.digest, `sha256:${sha256(files.initramfs)}`);
  });

  it('pulls anonymously with an anonymous pull token', async () => {
    const before = tokens.requests.length;
    const source = fx.source('kubesolo/os', 'v2.0.0', { publicKey: keys.publicKey });
    const release = await source.fetchRelease();
    const staged = await source.stage(release, 'initramfs', { stagingDir: join(fx.work, 'a') });
    assert.ok(readFileSync(staged.path).equals(files.initramfs));
    const mine = tokens.requests.slice(before);
    assert.ok(mine.length >= 1);
    assert.ok(mine.every((r) => r.user === undefined));
    assert.deepEqual(mine[0]!.scope, ['repository:kubesolo/os:pull']);
  });

  it('an anonymous push is refused (REGISTRY_AUTH_REQUIRED, exit 2)', async () => {
    await rejectsWithCode(fx.push('kubesolo/os', 'v2.0.1', files), 'REGISTRY_AUTH_REQUIRED', 2);
  });

  it('wrong credentials are refused by the token service (REGISTRY_AUTH_FAILED, exit 2)', async () => {
    await rejectsWithCode(
      fx
        .source('kubesolo/os', 'v2.0.0', {
          allowUnsigned: true,
          credentials: { username: USER, password: 'nope' },
        })
        .fetchRelease(),
      'REGISTRY_AUTH_FAILED',
      2,
    );
  });

  it('a ready registry token from config.json is sent as is', async () => {
    const authFile = join(fx.work, 'config.json');
    // Get a real token from the service the way docker login would have stored one.
    const res = await fetch(
      `${tokens.realm}?service=${tokens.service}&scope=repository:kubesolo/os:pull`,
      { headers: { authorization: 'Basic ' + Buffer.from(`${USER}:${PASS}`).toString('base64') } },
    );
    const { token } = (await res.json()) as { token: string };
    writeFileSync(authFile, JSON.stringify({ auths: { [fx.reg.host]: { registrytoken: token } } }));
    const before = tokens.requests.length;
    const release = await fx
      .source('kubesolo/os', 'v2.0.0', {
        publicKey: keys.publicKey,
        credentials: { authFile },
      })
      .fetchRelease();
    assert.equal(release.metadata.version, 'v2.0.0');
    assert.equal(tokens.requests.length, before, 'no token request was needed');
  });
});
