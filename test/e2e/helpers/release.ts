/**
 * Releases for the guest, made with the project's own release tool: one key pair per
 * run (`kubesolo-release keygen`), one signed release directory per scenario
 * (`kubesolo-release publish`). The guest serves it on its own loopback with
 * `kubesolo-release serve`.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runRelease } from '../../helpers/cli.js';
import { BUILD_DIR, E2E_DIR } from './image.js';

export const KEY_DIR = join(E2E_DIR, 'keys');
export const PUBKEY = join(KEY_DIR, 'release.pub');
const PRIVKEY = join(KEY_DIR, 'release.key');

/** The run's key pair; kept across runs so the image (which bakes in the key) is reused. */
export async function ensureKeys(): Promise<string> {
  if (existsSync(PUBKEY) && existsSync(PRIVKEY)) return PUBKEY;
  // Test files run concurrently: make the pair aside and rename the directory into
  // place; whoever renames first wins and the others use that pair.
  const tmp = `${KEY_DIR}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const r = await runRelease(['keygen', '--out', tmp]);
  if (r.code !== 0) throw new Error(`keygen failed (${r.code}): ${r.stderr}`);
  try {
    renameSync(tmp, KEY_DIR);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return PUBKEY;
}

/**
 * Publish a built test OS release (releases/<name>) as `version` into `out`; the amd64
 * image's unless `image` names another build (the arm64 suite's).
 */
export async function publish(
  name: string,
  version: string,
  out: string,
  image: { buildDir: string; arch: 'amd64' | 'arm64' } = { buildDir: BUILD_DIR, arch: 'amd64' },
): Promise<string> {
  rmSync(out, { recursive: true, force: true });
  const src = join(image.buildDir, 'releases', name);
  const r = await runRelease(
    [
      'publish',
      '--key',
      PRIVKEY,
      '--version',
      version,
      '--kernel',
      join(src, 'vmlinuz'),
      '--initramfs',
      join(src, 'kubesolo-os.gz'),
      '--arch',
      image.arch,
      '--out',
      out,
    ],
    { timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new Error(`publish failed (${r.code}): ${r.stderr}`);
  return out;
}
