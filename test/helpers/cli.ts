/**
 * Run the built binaries (dist/, made by `npm run build`, which `npm test` runs
 * first) as real child processes, the way an operator or a CronJob would.
 */
import { spawn } from 'node:child_process';
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { recordCode } from './code-record.js';

export const AGENT_BIN = fileURLToPath(new URL('../../dist/kubesolo-update.mjs', import.meta.url));
export const RELEASE_BIN = fileURLToPath(
  new URL('../../dist/kubesolo-release.mjs', import.meta.url),
);

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** Signal sent at the timeout (default SIGTERM; SIGKILL for a run that may ignore it). */
  killSignal?: NodeJS.Signals;
}

export function runBin(bin: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [bin, ...args], {
    ...options,
    env: { ...process.env, ...options.env },
  });
}

/**
 * Run a command with exactly `options.env` (nothing inherited), collecting its output.
 * A child run by this Node (a bundle) also gets the coverage collector's
 * NODE_V8_COVERAGE, so that `npm test` counts what it runs; nothing else it sees changes.
 */
export function runCommand(
  cmd: string,
  argv: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      env: { ...(cmd === process.execPath ? coverageEnv() : {}), ...options.env },
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      killSignal: options.killSignal ?? 'SIGTERM',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A child that exits before reading its input closes the pipe: EPIPE is its answer,
    // not the test's failure (its exit code and output say what happened).
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(options.input ?? '');
  });
}

function coverageEnv(): NodeJS.ProcessEnv {
  const dir = process.env.NODE_V8_COVERAGE;
  return dir === undefined ? {} : { NODE_V8_COVERAGE: dir };
}

export const runAgent = (args: string[], options?: RunOptions) => runBin(AGENT_BIN, args, options);
export const runRelease = (args: string[], options?: RunOptions) =>
  runBin(RELEASE_BIN, args, options);

/** Parse the JSON-lines log on stderr (the agent logs JSON when stderr is not a TTY). */
export function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Run the agent with `--json` appended; `doc` is the parsed stdout ({} when empty). */
export async function runAgentJson(args: string[], options?: RunOptions) {
  const r = await runAgent([...args, '--json'], options);
  return { ...r, doc: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, any>) : {} };
}

/**
 * A CLI run refused with `code` and `exitCode`: the exit status, and the code in the
 * `--json` error on stdout when there is one, else in an error log line on stderr.
 * The pair is recorded (code-record.ts) for the run's reason-code check.
 */
export function expectRefusal(r: RunResult, code: string, exitCode: number): void {
  assert.equal(r.code, exitCode, `expected exit ${exitCode} (${code}): ${r.stderr}`);
  let jsonCode: unknown;
  try {
    jsonCode = (JSON.parse(r.stdout) as { error?: { code?: unknown } }).error?.code;
  } catch {
    jsonCode = undefined;
  }
  const codes =
    jsonCode !== undefined
      ? [jsonCode]
      : logLines(r.stderr)
          .filter((l) => l.level === 'error')
          .map((l) => l.code);
  assert.ok(codes.includes(code), `expected ${code}, got ${JSON.stringify(codes)}: ${r.stderr}`);
  recordCode(exitCode, code);
}
