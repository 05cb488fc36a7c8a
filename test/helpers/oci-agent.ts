/**
 * The agent following an OCI registry, through the built binaries: a build directory
 * (vmlinuz, kubesolo-os.gz) pushed by `kubesolo-release push` into a repository of the
 * test registry (registry.ts), a device that trusts a key `kubesolo-release keygen`
 * made, and the agent run against REPOSITORY:TAG.
 */
import { execFileSync } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { goArch } from '../../src/metadata/arch.js';
import { runAgentJson, runRelease, type RunResult } from './cli.js';
import { makeDevice, type Device } from './device.js';

export interface PushOptions {
  /** --release-version (default: the tag). */
  version?: string;
  /** The private key file to sign with; unsigned without one. */
  key?: string;
  /** More flags for push. */
  extra?: string[];
}

/** `kubesolo-release push` of `build`'s images to `repository`:`tag` for this machine's arch. */
export function pushBuild(
  repository: string,
  tag: string,
  build: string,
  options: PushOptions = {},
): Promise<RunResult> {
  return runRelease([
    'push',
    ...['--registry', repository, '--tag', tag],
    ...['--release-version', options.version ?? tag, '--arch', goArch()],
    ...['--kernel', join(build, 'vmlinuz'), '--initramfs', join(build, 'kubesolo-os.gz')],
    ...(options.key ? ['--key', options.key] : []),
    ...(options.extra ?? []),
  ]);
}

/** A device whose update.conf trusts the public key in `pubFile`, with an empty grubenv. */
export async function makeDeviceTrusting(pubFile: string): Promise<Device> {
  const dev = await makeDevice({ config: { pubkey: '/etc/kubesolo/update.pub' } });
  await copyFile(pubFile, dev.path('etc/kubesolo/update.pub'));
  execFileSync('grub-editenv', [dev.path('boot/grub/grubenv'), 'create']);
  return dev;
}

/** The agent's `cmd` on `dev` against `repository`:`tag`, --json, stdout parsed. */
export function agentFromRegistry(
  dev: Device,
  repository: string,
  cmd: string,
  tag: string,
  extra: string[] = [],
) {
  return runAgentJson([cmd, '--root', dev.root, '--registry', repository, '--tag', tag, ...extra]);
}
