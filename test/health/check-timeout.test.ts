/**
 * The runner's outer deadline (src/health/run.ts): every check has a timeout of its own,
 * and around it the runner puts one a second longer, for a check that ignores its own (a
 * hung disk, a client stuck below its timeout). Here the Kubernetes client never
 * answers at all, which is what such a check looks like from the runner: the checks
 * that use it fail with CHECK_TIMEOUT at the deadline, and the others still get their
 * verdict.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runHealthChecks } from '../../src/health/run.js';
import type { KubeClient } from '../../src/kube/types.js';
import { silentLogger } from '../../src/log.js';
import { recordCode } from '../helpers/code-record.js';
import { assertCode } from '../helpers/code-assert.js';

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** A client whose every call hangs, with no timeout of its own. */
const hungClient: KubeClient = {
  listNodes: never,
  getNode: never,
  listPods: never,
  readyz: never,
  server: 'https://127.0.0.1:6443',
  close: () => undefined,
};

describe('health checks: the outer deadline', () => {
  it('a check that never answers fails with CHECK_TIMEOUT; disk_writable still passes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ks-check-timeout-'));
    try {
      await mkdir(join(root, 'var/lib/kubesolo/update'), { recursive: true });
      const report = await runHealthChecks({
        root,
        required: ['apiserver', 'disk_writable'],
        kube: hungClient,
        checkTimeoutMs: 50,
        log: silentLogger,
      });
      const apiserver = report.checks.find((c) => c.name === 'apiserver')!;
      assert.equal(apiserver.verdict, 'fail');
      assertCode(apiserver.reason, 'CHECK_TIMEOUT');
      recordCode(undefined, apiserver.reason);
      assert.match(apiserver.message, /no result within 1050 ms/);
      assert.equal(report.checks.find((c) => c.name === 'disk_writable')!.verdict, 'pass');
      assert.deepEqual(report.failed, ['apiserver']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
