/** Run the real `grub-editenv` (Debian grub-common), the oracle for the grubenv codec. */
import { spawnSync } from 'node:child_process';
import { toolSkipReason } from '../helpers/require-tool.js';

export interface EditenvResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function grubEditenv(file: string, ...args: string[]): EditenvResult {
  const r = spawnSync('grub-editenv', [file, ...args], { maxBuffer: 1 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** grub-editenv's exit status 0, or throw with its stderr. */
export function grubEditenvOk(file: string, ...args: string[]): Buffer {
  const r = grubEditenv(file, ...args);
  if (r.status !== 0) throw new Error(`grub-editenv ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Skip reason when grub-editenv is missing (not root); under root (CI) a missing tool fails. */
export function grubEditenvSkipReason(): string | false {
  return toolSkipReason(['grub-editenv'], 'grub-common');
}

/** `grub-editenv list` output for variables: `name=value\n` each, values unescaped. */
export function listing(vars: Iterable<readonly [string, string]>): Buffer {
  return Buffer.from([...vars].map(([k, v]) => `${k}=${v}\n`).join(''), 'utf8');
}
