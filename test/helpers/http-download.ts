/**
 * The bench of the downloadToFile tests: one loopback server (http-server.ts) and one
 * undici dispatcher for the enclosing describe, and a fresh staging directory for each
 * test with the server's request log cleared. Everything is closed and removed after.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { Agent } from 'undici';
import { silentLogger } from '../../src/log.js';
import type { DownloadLimits, DownloadOptions } from '../../src/transport/download/transfer.js';
import { sha256, startServer, type TestServer } from './http-server.js';

export interface DownloadBench {
  srv: TestServer;
  /** This test's own empty directory. */
  dir: string;
  /** Where the download stages its file in this test's directory. */
  dest: () => string;
  /** downloadToFile's options: `path` on the server into `file` in `dir`, expecting `body`. */
  options: (path: string, extra?: Partial<DownloadOptions>) => DownloadOptions;
}

/**
 * `prefix`: of each test's directory; `file`: the staged file's name; `body`: the bytes
 * the downloads expect; `limits`: of every download (a test's own are merged over them).
 */
export function useDownloadBench(
  prefix: string,
  dispatcher: Agent,
  file: string,
  body: Uint8Array,
  limits: Partial<DownloadLimits>,
): DownloadBench {
  const bench: DownloadBench = {
    srv: undefined as unknown as TestServer,
    dir: '',
    dest: () => join(bench.dir, file),
    options: (path, extra = {}) => ({
      log: silentLogger,
      url: bench.srv.url(path),
      dest: bench.dest(),
      dispatcher,
      expectedSha256: sha256(body),
      expectedSize: body.length,
      ...extra,
      limits: { ...limits, ...extra.limits },
    }),
  };
  before(async () => {
    bench.srv = await startServer({});
  });
  after(async () => {
    await bench.srv?.close();
    await dispatcher.close();
  });
  beforeEach(async () => {
    bench.dir = await mkdtemp(join(tmpdir(), prefix));
    bench.srv.requests.length = 0;
  });
  afterEach(() => rm(bench.dir, { recursive: true, force: true }));
  return bench;
}
