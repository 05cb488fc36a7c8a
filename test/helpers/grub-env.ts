/**
 * The GRUB environment of a simulated device, read and written with the real
 * `grub-editenv` (GRUB's own tool, the oracle for what the agent writes).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** `grub-editenv FILE list` as an object. */
export function grubEnv(file: string): Record<string, string> {
  const out = execFileSync('grub-editenv', [file, 'list'], { encoding: 'utf8' });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
}

/** `grub-editenv FILE set k=v ...`, creating the file first when missing. */
export function grubSet(file: string, vars: Record<string, string>): void {
  if (!existsSync(file)) execFileSync('grub-editenv', [file, 'create']);
  execFileSync('grub-editenv', [file, 'set', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
}
