/**
 * The loopback mTLS API server of a test file (kube-api.ts), with its lifetime: a
 * temporary directory made at once, a PKI in it and the server started before the
 * file's tests, the server closed and the directory removed after them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import {
  makePki,
  startKubeApi,
  type KubeApi,
  type Pki,
  type StartKubeApiOptions,
} from './kube-api.js';

export interface KubeApiFixture {
  /** The file's temporary directory (the PKI is in dir/pki). */
  readonly dir: string;
  /** Valid in the tests and their beforeEach/afterEach hooks, and after `ready`. */
  readonly pki: Pki;
  readonly api: KubeApi;
  /**
   * Settles once the server is up. node:test starts a file's top-level `before` hooks
   * without waiting for the ones before them to end, so a `before` that uses the server
   * awaits this first.
   */
  readonly ready: Promise<void>;
}

/** Call at the top level of a test file. */
export function useKubeApi(
  prefix: string,
  options: Omit<StartKubeApiOptions, 'pki'> = {},
): KubeApiFixture {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let pki: Pki | undefined;
  let api: KubeApi | undefined;
  let start: () => void;
  const ready = new Promise<void>((resolve) => (start = resolve)).then(async () => {
    pki = makePki(join(dir, 'pki'));
    api = await startKubeApi({ ...options, pki });
  });
  // Started in a before hook, as every server of the tests is; a failure to start fails it
  // and every hook that awaits `ready`.
  before(() => {
    start();
    return ready;
  });
  after(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const up = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error(`useKubeApi(${prefix}): used before it is ready`);
    return value;
  };
  return {
    dir,
    get pki() {
      return up(pki);
    },
    get api() {
      return up(api);
    },
    ready,
  };
}
