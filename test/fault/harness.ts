/**
 * The fault suite's device: test/helpers/device.ts's --root device (dir slots, a GRUB
 * environment written by grub-editenv, a signed release) served by the real
 * `kubesolo-release serve` code (Range, If-Range: downloads resume), with every byte
 * the server sends counted, so a test can tell how often a verified artifact was
 * fetched.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import { createStaticServer } from '../../src/release/serve.js';
import { runAgent, type RunResult } from '../helpers/cli.js';
import { makeDevice, makeKeys, publishRelease, type Device } from '../helpers/device.js';
import { silentLogger } from '../../src/log.js';
import { grubSet } from '../helpers/grub-env.js';

export const keys = makeKeys();

export interface CountingServer {
  url: string;
  /** Bytes of response bodies and headers sent so far, over every connection. */
  bytesSent(): number;
  /** Requests per URL path. */
  requests: Map<string, number>;
  /** GET requests per URL path that asked for the whole file (no Range): fresh fetches. */
  wholeFetches: Map<string, number>;
  close(): Promise<void>;
}

export async function serveCounting(dir: string): Promise<CountingServer> {
  const server: Server = await createStaticServer(dir, { log: silentLogger });
  let closedBytes = 0;
  const open = new Set<import('node:net').Socket>();
  const requests = new Map<string, number>();
  const wholeFetches = new Map<string, number>();
  server.on('connection', (s) => {
    open.add(s);
    s.on('close', () => {
      closedBytes += s.bytesWritten;
      open.delete(s);
    });
  });
  server.on('request', (req) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    if (req.method === 'GET' && req.headers.range === undefined) {
      wholeFetches.set(path, (wholeFetches.get(path) ?? 0) + 1);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    wholeFetches,
    bytesSent: () => closedBytes + [...open].reduce((n, s) => n + s.bytesWritten, 0),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const sha256File = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');

export interface FaultDevice {
  dev: Device;
  server: CountingServer;
  releases: string;
  /** The agent against this device, --json, stdout parsed. */
  agent(args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult & { doc: any }>;
  statePath: string;
  grubenv: string;
  /** sha256 of slot A's files: the running slot must never change. */
  slotA(): string;
  cleanup(): Promise<void>;
}

export interface FaultDeviceOptions {
  /** Both images together (the default: 320 KiB). */
  imageBytes?: number;
  /** update.conf keys beside (or instead of) the defaults. */
  config?: Record<string, string>;
}

export async function makeFaultDevice(options: FaultDeviceOptions = {}): Promise<FaultDevice> {
  const releases = await mkdtemp(join(tmpdir(), 'ks-fault-rel-'));
  const server = await serveCounting(releases);
  const half = Math.floor((options.imageBytes ?? 320 * 1024) / 2);
  await publishRelease(releases, {
    version: 'v1.1.0',
    keys,
    kernelBytes: half,
    initramfsBytes: half,
  });
  const dev = await makeDevice({
    config: {
      server: server.url,
      pubkey: '/etc/kubesolo/update.pub',
      health_checks: 'disk_writable',
      ...options.config,
    },
  });
  await writeFile(dev.path('etc/kubesolo/update.pub'), keys.publicHex + '\n');
  const grubenv = dev.path('boot/grub/grubenv');
  grubSet(grubenv, { active_slot: 'A', boot_success: '1', boot_counter: '3' });
  return {
    dev,
    server,
    releases,
    grubenv,
    statePath: dev.path('var/lib/kubesolo/update/state.json'),
    async agent(args, env) {
      const r = await runAgent([...args, '--root', dev.root, '--json'], env ? { env } : {});
      let doc: any = {};
      try {
        doc = r.stdout.trim() ? JSON.parse(r.stdout) : {};
      } catch {
        doc = { unparsed: r.stdout };
      }
      return { ...r, doc };
    },
    slotA: () =>
      ['vmlinuz', 'kubesolo-os.gz', 'version']
        .map((f) => sha256File(dev.path(`slots/a/${f}`)))
        .join(','),
    async cleanup() {
      await server.close();
      await dev.cleanup();
      await rm(releases, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh fault device for each test of the enclosing describe(), removed after it: the
 * hooks are registered here, in the order of the call (an afterEach registered before it
 * runs before the device is removed). `options` may be a function, called in the hook,
 * for options known only then (another server's port, the time of day).
 */
export function useFaultDevice(
  options: FaultDeviceOptions | (() => FaultDeviceOptions) = {},
): Omit<FaultDevice, 'cleanup'> {
  let current: FaultDevice | undefined;
  beforeEach(async () => {
    current = await makeFaultDevice(typeof options === 'function' ? options() : options);
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  const now = (): FaultDevice => {
    if (!current) throw new Error('useFaultDevice: the device exists only inside a test');
    return current;
  };
  return {
    get dev() {
      return now().dev;
    },
    get server() {
      return now().server;
    },
    get releases() {
      return now().releases;
    },
    get statePath() {
      return now().statePath;
    },
    get grubenv() {
      return now().grubenv;
    },
    agent: (args, env) => now().agent(args, env),
    slotA: () => now().slotA(),
  };
}

export function readState(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}
