import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { findKubeconfig, kubeconfigCandidates, loadKubeConfig } from '../../src/kube/config.js';
import { loadKubeClient } from '../../src/kube/index.js';
import { DEFAULT_PATHS } from '../../src/paths.js';
import {
  kubeconfigYaml,
  makePki,
  startKubeApi,
  type KubeApi,
  type Pki,
} from '../helpers/kube-api.js';
import { hasReason, rejectsWithCode } from '../helpers/rejects.js';

const dir = mkdtempSync(join(tmpdir(), 'kube-config-'));
let pki: Pki;
let n = 0;

function write(text: string, name = `kc-${++n}.yaml`, under = dir): string {
  mkdirSync(under, { recursive: true });
  const path = join(under, name);
  writeFileSync(path, text);
  return path;
}

async function invalid(path: string, pattern: RegExp, code = 'KUBECONFIG_INVALID'): Promise<void> {
  const err = await rejectsWithCode(loadKubeConfig(path), code, 2);
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, pattern);
}

before(() => {
  pki = makePki(join(dir, 'pki'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('loadKubeConfig', () => {
  it('reads server, CA, client certificate and key from *-data fields', async () => {
    const path = write(
      kubeconfigYaml({
        server: 'https://127.0.0.1:6443',
        caData: pki.caCert,
        certData: pki.clientCert,
        keyData: pki.clientKey,
      }),
    );
    const c = await loadKubeConfig(path);
    assert.equal(c.server.href, 'https://127.0.0.1:6443/');
    assert.equal(c.ca?.toString(), pki.caCert);
    assert.equal(c.cert?.toString(), pki.clientCert);
    assert.equal(c.key?.toString(), pki.clientKey);
    assert.equal(c.token, undefined);
    assert.equal(c.context, 'kubesolo');
    assert.deepEqual(c.warnings, []);
  });

  it('resolves relative file references against the kubeconfig directory', async () => {
    const sub = join(dir, 'rel');
    write(pki.caCert, 'ca.crt', join(sub, 'pki'));
    write(pki.clientCert, 'admin.crt', join(sub, 'pki'));
    write(pki.clientKey, 'admin.key', join(sub, 'pki'));
    const path = write(
      kubeconfigYaml({
        server: 'https://[::1]:6443',
        caFile: 'pki/ca.crt',
        certFile: './pki/admin.crt',
        keyFile: 'pki/admin.key',
      }),
      'config',
      sub,
    );
    // A different working directory must not matter.
    const c = await loadKubeConfig(path);
    assert.equal(c.ca?.toString(), pki.caCert);
    assert.equal(c.cert?.toString(), pki.clientCert);
    assert.equal(c.key?.toString(), pki.clientKey);
  });

  it('resolves absolute file references under --root when rooted, as is otherwise', async () => {
    const root = join(dir, 'root');
    write(pki.caCert, 'ca.crt', join(root, 'var/lib/kubesolo/pki'));
    const text = kubeconfigYaml({
      server: 'https://127.0.0.1:6443',
      caFile: '/var/lib/kubesolo/pki/ca.crt',
    });
    const path = write(text);
    const c = await loadKubeConfig(path, { root, rooted: true });
    assert.equal(c.ca?.toString(), pki.caCert);
    await assert.rejects(loadKubeConfig(path, { root, rooted: false }), /cannot read/);
  });

  it('takes *-data over the file field and reads tokenFile', async () => {
    write('  tok-from-file\n', 'token', join(dir, 'tok'));
    const path = write(
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: c',
        'contexts: [{name: c, context: {cluster: k, user: u}}]',
        'clusters:',
        '- name: k',
        '  cluster:',
        '    server: https://127.0.0.1:6443',
        `    certificate-authority-data: ${Buffer.from(pki.caCert).toString('base64')}`,
        '    certificate-authority: /does/not/exist',
        'users:',
        '- name: u',
        '  user: {tokenFile: token}',
      ].join('\n'),
      'config',
      join(dir, 'tok'),
    );
    const c = await loadKubeConfig(path);
    assert.equal(c.ca?.toString(), pki.caCert);
    assert.equal(c.token, 'tok-from-file');
    assert.equal(c.cert, undefined);
  });

  it('accepts a lone context without current-context; warns about ignored insecure and exec settings', async () => {
    const path = write(
      [
        'apiVersion: v1',
        'clusters: [{name: k, cluster: {server: "https://h:6443", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {exec: {command: /bin/helper}}}]',
        'contexts: [{name: only, context: {cluster: k, user: u}}]',
      ].join('\n'),
    );
    const c = await loadKubeConfig(path);
    assert.equal(c.context, 'only');
    assert.equal(c.ca, undefined);
    assert.equal(c.warnings.length, 2);
    assert.match(c.warnings.join('\n'), /insecure-skip-tls-verify is ignored/);
    assert.match(c.warnings.join('\n'), /exec/);
  });

  it('refuses what cannot be used, with KUBECONFIG_INVALID', async () => {
    const base = {
      server: 'https://127.0.0.1:6443',
      caData: pki.caCert,
    };
    await invalid(write(kubeconfigYaml({ ...base, server: 'http://127.0.0.1:8080' })), /not https/);
    await invalid(write(kubeconfigYaml({ ...base, server: 'not a url' })), /not a URL/);
    await invalid(write(kubeconfigYaml({ ...base, certData: pki.clientCert })), /without a key/);
    await invalid(write('{{{ not yaml'), /not valid YAML/);
    await invalid(write('- just\n- a list\n'), /not a kubeconfig/);
    await invalid(
      write('current-context: x\ncontexts: [{name: y, context: {cluster: k}}]\nclusters: []\n'),
      /no contexts entry named 'x'/,
    );
    await invalid(
      write('contexts: [{name: a, context: {cluster: k}}, {name: b, context: {cluster: k}}]\n'),
      /no 'current-context'/,
    );
    await invalid(
      write(
        'current-context: a\ncontexts: [{name: a, context: {cluster: k}}]\nclusters: [{name: k, cluster: {}}]\n',
      ),
      /has no server/,
    );
    await invalid(
      write('current-context: a\ncontexts: [{name: a, context: {user: u}}]\n'),
      /names no cluster/,
    );
    await invalid(
      write('current-context: a\ncontexts: [{name: a, context: {cluster: k}}]\n'),
      /no 'clusters' list/,
    );
    await invalid(write('current-context: a\ncontexts: [{name: a}]\n'), /has no 'context' map/);
    await invalid(
      write('current-context: 7\ncontexts: [{name: a, context: {cluster: k}}]\n'),
      /'current-context' must be a string/,
    );
    await invalid(
      write(
        'current-context: a\ncontexts: [{name: a, context: {cluster: k}}]\nclusters: [{name: k, cluster: {server: "https://h", certificate-authority-data: "%%%not-base64"}}]\n',
      ),
      /is not base64/,
    );
    await invalid(
      write(
        'current-context: a\ncontexts: [{name: a, context: {cluster: k}}]\nclusters: [{name: k, cluster: {server: "https://h", certificate-authority-data: "   "}}]\n',
      ),
      /is empty/,
    );
    await invalid(join(dir, 'absent.yaml'), /cannot read kubeconfig/, 'KUBECONFIG_NOT_FOUND');
  });
});

describe('kubeconfig location', () => {
  it('config key (under --root) beats KUBECONFIG, which beats the default under --root', () => {
    const root = '/tmp/some-root';
    assert.deepEqual(
      kubeconfigCandidates({ root, kubeconfigPath: '/etc/k.yaml', env: { KUBECONFIG: '/x' } }),
      [{ path: '/tmp/some-root/etc/k.yaml', source: 'config', rooted: true }],
    );
    assert.deepEqual(kubeconfigCandidates({ root, env: { KUBECONFIG: '/a:/b::' } }), [
      { path: '/a', source: 'env', rooted: false },
      { path: '/b', source: 'env', rooted: false },
    ]);
    assert.deepEqual(kubeconfigCandidates({ root, env: { KUBECONFIG: '' } }), [
      { path: `/tmp/some-root${DEFAULT_PATHS.kubeconfig}`, source: 'default', rooted: true },
    ]);
    assert.equal(kubeconfigCandidates({}).at(0)?.path, DEFAULT_PATHS.kubeconfig);
    // The merged settings always hold the default path: it must not shadow KUBECONFIG.
    assert.deepEqual(
      kubeconfigCandidates({
        root,
        kubeconfigPath: DEFAULT_PATHS.kubeconfig,
        env: { KUBECONFIG: '/k' },
      }),
      [{ path: '/k', source: 'env', rooted: false }],
    );
  });

  it('finds the first KUBECONFIG entry that exists, and nothing when none does', async () => {
    const real = write('x: 1\n');
    assert.equal(
      (await findKubeconfig({ env: { KUBECONFIG: `${join(dir, 'missing')}:${real}` } }))?.path,
      real,
    );
    assert.equal(await findKubeconfig({ root: join(dir, 'empty-root') }), undefined);
  });
});

describe('loadKubeClient', () => {
  let api: KubeApi;
  before(async () => {
    api = await startKubeApi({ pki });
  });
  after(() => api.close());

  it('is undefined when no kubeconfig exists (apply gate: skip, logged)', async () => {
    assert.equal(await loadKubeClient({ root: join(dir, 'no-k8s'), env: {} }), undefined);
  });

  it('builds a working client from the default path under --root and reports warnings', async () => {
    const root = join(dir, 'device');
    const p = DEFAULT_PATHS.kubeconfig;
    write(
      kubeconfigYaml({
        server: api.url,
        caData: pki.caCert,
        certData: pki.clientCert,
        keyData: pki.clientKey,
        insecureSkipTlsVerify: true,
      }),
      p.slice(p.lastIndexOf('/') + 1),
      join(root, p.slice(0, p.lastIndexOf('/'))),
    );
    const warnings: string[] = [];
    const client = await loadKubeClient({
      root,
      env: {},
      timeoutMs: 2000,
      onWarning: (w) => warnings.push(w),
    });
    assert.ok(client);
    try {
      assert.equal((await client.readyz()).ready, true);
      assert.equal((await client.listNodes()).kind, 'NodeList');
    } finally {
      client.close();
    }
    assert.equal(warnings.length, 1);
  });

  it('throws KUBECONFIG_INVALID for a kubeconfig that exists but is broken', async () => {
    const path = write('current-context: nope\n');
    await assert.rejects(
      loadKubeClient({ kubeconfigPath: path, root: '/', env: {} }),
      hasReason('KUBECONFIG_INVALID'),
    );
  });
});
