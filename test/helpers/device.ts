/**
 * A simulated device under a temp --root: dir slots, a GRUB environment, a kernel
 * command line and a boot id, plus a signed release served from a loopback HTTP
 * server. Used by the lifecycle tests that run the real agent bundle.
 */
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { after, before } from 'node:test';
import { simulateGrubBoot } from '../../src/bootenv/grub-sim.js';
import { grubSet } from './grub-env.js';

export interface Device {
  root: string;
  path(p: string): string;
  setRunningSlot(slot: 'A' | 'B'): Promise<void>;
  /** A new kernel boot id, as after a reboot. */
  newBootId(): Promise<void>;
  /**
   * Boot once by GRUB's rules (src/bootenv/grub-sim.ts over the grubenv): the chosen
   * slot's kernel command line and a new boot id. Returns the slot that booted.
   */
  reboot(): Promise<'A' | 'B'>;
  writeConfig(lines: Record<string, string>): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeDevice(
  options: { version?: string; config?: Record<string, string> } = {},
): Promise<Device> {
  const root = await mkdtemp(join(tmpdir(), 'ks-device-'));
  const path = (p: string) => join(root, p);
  await mkdir(path('slots/a'), { recursive: true });
  await mkdir(path('slots/b'), { recursive: true });
  await writeFile(path('slots/a/vmlinuz'), randomBytes(4096));
  await writeFile(path('slots/a/kubesolo-os.gz'), randomBytes(8192));
  await writeFile(path('slots/a/version'), `${options.version ?? 'v1.0.0'}\n`);
  await mkdir(path('proc/sys/kernel/random'), { recursive: true });
  await mkdir(path('boot/grub'), { recursive: true });
  await mkdir(path('var/lib/kubesolo'), { recursive: true });
  const device: Device = {
    root,
    path,
    async setRunningSlot(slot) {
      await writeFile(
        path('proc/cmdline'),
        `BOOT_IMAGE=/vmlinuz kubesolo.slot=${slot} panic=10 console=ttyS0\n`,
      );
    },
    async newBootId() {
      await writeFile(path('proc/sys/kernel/random/boot_id'), `${randomUUID()}\n`);
    },
    async reboot() {
      const { bootedSlot } = simulateGrubBoot(path('boot/grub/grubenv'));
      await device.setRunningSlot(bootedSlot);
      await device.newBootId();
      return bootedSlot;
    },
    async writeConfig(lines) {
      await mkdir(path('etc/kubesolo'), { recursive: true });
      const text = Object.entries(lines)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n');
      await writeFile(path('etc/kubesolo/update.conf'), `# test device\n${text}\n`);
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  await device.setRunningSlot('A');
  await device.newBootId();
  await device.writeConfig({
    slot_backend: 'dir',
    slot_a_dir: '/slots/a',
    slot_b_dir: '/slots/b',
    grubenv: '/boot/grub/grubenv',
    // Secure by default (docs/operating.md): a test device without a key is a lab device.
    ...(options.config?.pubkey === undefined ? { allow_unsigned: 'true' } : {}),
    ...options.config,
  });
  return device;
}

export interface Keys {
  privateKey: KeyObject;
  publicHex: string;
}

export function makeKeys(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  // The raw key is the last 32 bytes of the SPKI DER encoding (RFC 8410).
  return { privateKey, publicHex: spki.subarray(spki.length - 32).toString('hex') };
}

export interface ReleaseOptions {
  version: string;
  keys?: Keys;
  channel?: string;
  architecture?: string;
  minCompatibleVersion?: string;
  kernelBytes?: number;
  initramfsBytes?: number;
  /** Override fields of latest.json after it is built (for hostile cases). */
  patch?: Record<string, unknown>;
  signImages?: boolean;
}

/** Publish a release into `dir/<version>/` and `dir/latest.json` (signed when keys are given). */
export async function publishRelease(
  dir: string,
  o: ReleaseOptions,
): Promise<Record<string, unknown>> {
  const vdir = join(dir, o.version);
  await mkdir(vdir, { recursive: true });
  const kernel = randomBytes(o.kernelBytes ?? 64 * 1024);
  const initramfs = randomBytes(o.initramfsBytes ?? 256 * 1024);
  await writeFile(join(vdir, 'vmlinuz'), kernel);
  await writeFile(join(vdir, 'kubesolo-os.gz'), initramfs);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const md: Record<string, unknown> = {
    version: o.version,
    vmlinuz_url: `${o.version}/vmlinuz`,
    vmlinuz_sha256: sha(kernel),
    vmlinuz_size: kernel.length,
    initramfs_url: `${o.version}/kubesolo-os.gz`,
    initramfs_sha256: sha(initramfs),
    initramfs_size: initramfs.length,
    release_date: '2026-11-01T00:00:00Z',
    release_notes: `release ${o.version}`,
    ...(o.channel ? { channel: o.channel } : {}),
    ...(o.architecture ? { architecture: o.architecture } : {}),
    ...(o.minCompatibleVersion ? { min_compatible_version: o.minCompatibleVersion } : {}),
  };
  if (o.keys && o.signImages !== false) {
    await writeFile(
      join(vdir, 'vmlinuz.sig'),
      sign(null, kernel, o.keys.privateKey).toString('hex'),
    );
    await writeFile(
      join(vdir, 'kubesolo-os.gz.sig'),
      sign(null, initramfs, o.keys.privateKey).toString('hex'),
    );
    md.vmlinuz_sig_url = `${o.version}/vmlinuz.sig`;
    md.initramfs_sig_url = `${o.version}/kubesolo-os.gz.sig`;
  }
  if (o.keys) md.metadata_sig_url = 'latest.json.sig';
  Object.assign(md, o.patch ?? {});
  const body = Buffer.from(JSON.stringify(md, null, 2));
  await writeFile(join(dir, 'latest.json'), body);
  if (o.keys)
    await writeFile(
      join(dir, 'latest.json.sig'),
      sign(null, body, o.keys.privateKey).toString('hex'),
    );
  return md;
}

export interface StaticServer {
  url: string;
  server: Server;
  /** Delay (ms) before image responses (and metadata too when asked); lets tests catch a run mid-way. */
  setDelay(ms: number, options?: { metadata?: boolean }): void;
  close(): Promise<void>;
}

/** A plain static file server on 127.0.0.1 (no Range; the transport's own tests cover that). */
export async function serveDir(dir: string): Promise<StaticServer> {
  let delay = 0;
  let delayMetadata = false;
  const server = createServer((req, res) => {
    const rel = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(dir, rel);
    setTimeout(
      () => {
        stat(file)
          .then((st) => {
            if (!st.isFile()) throw new Error('not a file');
            res.writeHead(200, {
              'content-length': st.size,
              'content-type': 'application/octet-stream',
            });
            createReadStream(file).pipe(res);
          })
          .catch(() => {
            res.writeHead(404).end();
          });
      },
      (req.url?.endsWith('.json') || req.url?.endsWith('.sig')) && !delayMetadata ? 0 : delay,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    setDelay: (ms, options = {}) => {
      delay = ms;
      delayMetadata = options.metadata === true;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function readJson(p: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
}

/**
 * What a refusal must leave alone: the GRUB environment's bytes and every file of both
 * slots, as `relative path → sha256`. Two snapshots compare with deepEqual.
 */
export async function deviceSnapshot(dev: Device): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const add = async (rel: string) => {
    const full = dev.path(rel);
    const st = await stat(full).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      for (const name of (await readdir(full)).sort()) await add(join(rel, name));
    } else {
      out[rel] = createHash('sha256')
        .update(await readFile(full))
        .digest('hex');
    }
  };
  for (const rel of ['boot/grub/grubenv', 'slots/a', 'slots/b']) await add(rel);
  return out;
}

/**
 * A release directory served on loopback for the enclosing describe(): the hooks that
 * create and remove both are registered here. Read `dir` and `server` inside tests.
 */
export function useReleaseServer(): { dir: string; server: StaticServer } {
  const fixture = {} as { dir: string; server: StaticServer };
  before(async () => {
    fixture.dir = await mkdtemp(join(tmpdir(), 'ks-releases-'));
    fixture.server = await serveDir(fixture.dir);
  });
  after(async () => {
    await fixture.server.close();
    await rm(fixture.dir, { recursive: true, force: true });
  });
  return fixture;
}

/**
 * A device that updates from `server` with `keys`' public key installed, running slot
 * A committed in a GRUB environment made by grub-editenv.
 */
export async function makeSignedDevice(
  server: StaticServer,
  keys: Keys,
  config: Record<string, string> = {},
): Promise<Device> {
  const dev = await makeDevice({
    config: { server: server.url, pubkey: '/etc/kubesolo/update.pub', ...config },
  });
  await writeFile(dev.path('etc/kubesolo/update.pub'), keys.publicHex + '\n');
  grubSet(dev.path('boot/grub/grubenv'), {
    active_slot: 'A',
    boot_success: '1',
    boot_counter: '3',
  });
  return dev;
}
