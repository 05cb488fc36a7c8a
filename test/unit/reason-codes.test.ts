/**
 * Every reason code is proved by a test. The codes are enumerated from the source
 * itself (every quoted SCREAMING_SNAKE literal under src/, which is how a code is
 * defined: `new GateError('CODE', ...)`, `code: 'CODE'`, `TransportCode.X = 'CODE'`),
 * so a new code cannot be added without either a test that names it or a written
 * exemption below. A code counts as tested when a test file (not a helper or fixture,
 * which only feed inputs) names it outside a comment; the tests that name codes
 * assert them (`assert.equal(r.doc.error.code, 'CODE')`, refusal tables whose loop
 * asserts the code, `rejects(..., { code: 'CODE' })`).
 *
 * The lifecycle's list (LIFECYCLE_REASONS) is also checked against docs/operating.md's
 * table, so the documented contract and the thrown codes cannot drift apart.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LIFECYCLE_REASONS } from '../../src/agent/reasons.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);

/**
 * Codes that appear in src/ but are not the project's: Node, OpenSSL and undici error
 * codes the source recognises and maps to its own (KUBE_TLS, NETWORK_ERROR, ...).
 * The project's code they map to is what the tests assert.
 */
const FOREIGN: Record<string, string> = {
  CERT_NOT_YET_VALID: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_REJECTED: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_SIGNATURE_FAILURE: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_UNTRUSTED: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_HAS_EXPIRED: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  SELF_SIGNED_CERT_IN_CHAIN: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UNABLE_TO_GET_ISSUER_CERT: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  ERR_TLS_CERT_ALTNAME_INVALID: 'Node TLS code; src/kube/https-get.ts maps it to KUBE_TLS',
  INVALID_CA: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UND_ERR_SOCKET: 'undici code; src/transport/errors.ts maps it to NETWORK_ERROR',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH:
    'undici code; src/transport/errors.ts maps it to DOWNLOAD_TRUNCATED',
};

/**
 * The project's own codes with no test that names them, each with why. (The slot
 * read-back after the rename failing for real, SLOT_VERIFY_FAILED with phase
 * `readback` for the kernel and initramfs, is proved by the rewrite of the slot write
 * path, not here; the code itself is already asserted, so it needs no entry.) An entry here
 * that gains a test (or leaves the source) fails the check, so the list only shrinks.
 */
const UNTESTED: Record<string, string> = {
  HASH_WORKER_FAILED:
    'src/crypto/sha512-worker.ts: the SHA-512 worker thread crashing or exiting; a test would have to kill a worker thread inside the process under test',
  SLOT_UMOUNT_FAILED:
    'src/slots/block-store.ts: umount failing after a write; needs a mount that cannot be unmounted, which a test cannot make without holding the mount busy across the store call',
  CONFIG_INVALID:
    'src/cloudinit/apply.ts: the fallback when the merged update.conf fails to parse with something other than a KubesoloError; parseConfig throws only KubesoloErrors, whose own codes are kept and tested (test/cloudinit)',
  CHECK_TIMEOUT:
    'src/health/run.ts: the outer deadline around a check that ignores its own; each check has one (containerd, probe and the Kubernetes client, tested with their *_TIMEOUT codes) and disk_writable would need a hung filesystem',
  OCI_TAG_CONFLICT:
    'src/release/oci-push.ts: a tag serving neither a manifest nor an index; the reference registry (docker-registry) the tests push to stores only those two under a tag',
  SELF_CHECK_FAILED:
    'src/release/publish.ts: a signature that does not verify with the key that just made it; needs a broken Ed25519 signer (node:crypto), which a test cannot substitute in the real publish',
};

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

/** Source lines without comments (line comments, and lines inside or opening block comments). */
function codeLines(file: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes('*/')) inBlock = false;
      continue;
    }
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      continue;
    }
    if (line.startsWith('//') || line.startsWith('*')) continue;
    out.push(raw.replace(/\s\/\/ .*$/, ''));
  }
  return out;
}

const CODE = /['"`/]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`/]/g;
/** In tests a code may also end a composite string such as 'fail:NODE_NOT_FOUND'. */
const TEST_CODE = /['"`/:]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`/]/g;

function codesIn(files: string[], pattern: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of files) {
    for (const line of codeLines(file)) {
      for (const m of line.matchAll(pattern)) {
        const list = found.get(m[1]!) ?? [];
        if (!list.includes(file)) list.push(file);
        found.set(m[1]!, list);
      }
    }
  }
  return found;
}

const srcCodes = codesIn(walk(join(REPO, 'src')), CODE);
const testFiles = walk(join(REPO, 'test')).filter(
  (f) =>
    f.endsWith('.test.ts') &&
    f !== THIS_FILE &&
    !f.includes(`${join('test', 'helpers')}/`) &&
    !f.endsWith('fixtures.ts'),
);
const testCodes = codesIn(testFiles, TEST_CODE);

describe('reason codes', () => {
  it('the source defines a plausible set of codes (the scan itself works)', () => {
    // A scan that finds nothing would pass every check below.
    assert.ok(srcCodes.size > 100, `only ${srcCodes.size} codes found under src/`);
    for (const known of ['ROLLBACK_UNSAFE', 'HASH_MISMATCH', 'SIGNATURE_MISSING', 'KUBE_TLS']) {
      assert.ok(srcCodes.has(known), known);
    }
  });

  it('every code the source defines is named by a test, or exempted with a reason', () => {
    const missing = [...srcCodes.keys()]
      .filter((c) => !testCodes.has(c) && !(c in FOREIGN) && !(c in UNTESTED))
      .map(
        (c) =>
          `${c} (${srcCodes
            .get(c)!
            .map((f) => relative(REPO, f))
            .join(', ')})`,
      );
    assert.deepEqual(missing, [], `codes without a test:\n  ${missing.join('\n  ')}`);
  });

  it('every exemption is still needed and says why', () => {
    for (const [code, why] of Object.entries({ ...FOREIGN, ...UNTESTED })) {
      assert.ok(why.length > 20, `${code}: the exemption needs a reason`);
      assert.ok(srcCodes.has(code), `${code} is exempted but no longer in src/`);
    }
    const nowTested = Object.keys(UNTESTED).filter((c) => testCodes.has(c));
    assert.deepEqual(nowTested, [], 'tested now: remove from UNTESTED');
  });

  it("LIFECYCLE_REASONS is docs/operating.md's table: same codes, same exit codes", () => {
    const doc = readFileSync(join(REPO, 'docs/operating.md'), 'utf8');
    const section = doc.split('## Reason codes of the lifecycle')[1]?.split('\n## ')[0] ?? '';
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| ([0-9–-]+) \|/gm)].map(
      (m) => [m[1]!, m[2] === '–' || m[2] === '-' ? null : Number(m[2])] as const,
    );
    assert.ok(rows.length > 10, 'the table was not found');
    assert.deepEqual(
      Object.fromEntries(rows),
      { ...LIFECYCLE_REASONS },
      'docs/operating.md and src/agent/reasons.ts differ',
    );
  });

  it('every lifecycle reason is used by the source, not only listed', () => {
    const sources = walk(join(REPO, 'src'))
      .filter((f) => !f.endsWith(join('agent', 'reasons.ts')))
      .map((f) => codeLines(f).join('\n'))
      .join('\n');
    const unused = Object.keys(LIFECYCLE_REASONS).filter((c) => !sources.includes(`'${c}'`));
    assert.deepEqual(unused, []);
  });
});
