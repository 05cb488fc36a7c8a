/**
 * Run a command as a person at a terminal reads it: no input, stdout and stderr merged
 * in the order they arrive (the demo, the deploy scripts, the quickstart's commands).
 * cli.ts's runCommand keeps the two apart, for tests that parse one of them.
 */
import { spawn } from 'node:child_process';

export interface MergedRunOptions {
  /** The whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A hang detector: the child is killed (SIGTERM) after it. */
  timeoutMs: number;
}

export function runMerged(
  cmd: string,
  args: string[],
  options: MergedRunOptions,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}
