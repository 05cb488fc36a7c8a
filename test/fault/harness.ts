/**
 * The fault suite's device: test/helpers/device.ts's --root device (dir slots, a GRUB
 * environment written by grub-editenv, a signed release) served by the real
 * `kubesolo-release serve` code (Range, If-Range: downloads resume), with every byte
 * the server sends counted, so a test can tell how often a verified artifact was
 * fetched.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStaticServer } from '../../src/release/serve.js';
import { runAgent, type RunResult } from '../helpers/cli.js';
import { makeDevice, makeKeys, publishRelease, type Device } from '../helpers/device.js';
import { silentLogger } from '../../src/log.js';

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

export function grubVars(file: string): Record<string, string> {
  const out = execFileSync('grub-editenv', [file, 'list'], { encoding: 'utf8' });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=', 2) as [string, string]),
  );
}

export function grubWrite(file: string, vars: Record<string, string>): void {
  if (!existsSync(file)) execFileSync('grub-editenv', [file, 'create']);
  execFileSync('grub-editenv', [file, 'set', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
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

export async function makeFaultDevice(
  options: { imageBytes?: number; config?: Record<string, string> } = {},
): Promise<FaultDevice> {
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
  grubWrite(grubenv, { active_slot: 'A', boot_success: '1', boot_counter: '3' });
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

export function readState(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}
