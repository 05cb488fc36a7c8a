/**
 * Running the real binaries (dist/, built by `npm run build`) for the demo, and showing
 * what they did: the command line as an operator would type it, its stdout, and its
 * log lines (JSON lines when piped, rendered readably here).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { shellCommand } from '../../src/cli/shell-quote.js';

export const BINS = {
  'kubesolo-update': fileURLToPath(new URL('../../dist/kubesolo-update.mjs', import.meta.url)),
  'kubesolo-release': fileURLToPath(new URL('../../dist/kubesolo-release.mjs', import.meta.url)),
} as const;
export type Bin = keyof typeof BINS;

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Printer {
  (text?: string): void;
}

const DIM = (s: string, color: boolean) => (color ? `\x1b[2m${s}\x1b[0m` : s);

/** Render one JSON log line as `· LEVEL msg key=value ...`. */
export function renderLogLine(line: string): string | undefined {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time: _t, level, msg, ...fields } = rec;
  if (level === 'debug') return undefined;
  const extra = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const lvl = typeof level === 'string' && level !== 'info' ? `${level.toUpperCase()} ` : '';
  return `${lvl}${String(msg)}${extra ? ' ' + extra : ''}`;
}

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  print: Printer;
  color: boolean;
}

/** Run a binary to completion, echoing its command, output and logs. */
export async function run(bin: Bin, args: string[], o: RunOptions): Promise<Ran> {
  o.print(`   $ ${shellCommand([bin, ...args])}`);
  const child = spawn(process.execPath, [BINS[bin], ...args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  for (const line of stdout.split('\n').filter((l) => l !== '')) o.print(`     ${line}`);
  for (const line of stderr.split('\n').filter((l) => l !== '')) {
    const shown = renderLogLine(line);
    if (shown !== undefined) o.print(DIM(`     · ${shown}`, o.color));
  }
  o.print(DIM(`     → exit ${String(code)}`, o.color));
  return { code, stdout, stderr };
}

/** Start a long-running binary and resolve once `ready` matches its stdout. */
export function start(
  bin: Bin,
  args: string[],
  ready: RegExp,
  o: RunOptions,
): Promise<{ match: RegExpExecArray; stop: () => Promise<void> }> {
  o.print(`   $ ${shellCommand([bin, ...args])} &`);
  const child = spawn(process.execPath, [BINS[bin], ...args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    child.on('close', (code) =>
      reject(new Error(`${bin} exited with ${String(code)} before it was ready:\n${stderr}`)),
    );
    let isReady = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const match = isReady ? null : ready.exec(stdout);
      if (match) {
        isReady = true;
        for (const line of stdout.split('\n').filter((l) => l !== '')) o.print(`     ${line}`);
        resolve({
          match,
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
  });
}
