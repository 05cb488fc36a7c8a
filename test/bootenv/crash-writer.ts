/**
 * The writer child of the crash tests (grubenv-crash, uboot-env-crash): a fixture of
 * fixtures/ that prints "ready", waits for a line on stdin, then rewrites its target in
 * a loop, printing one character per completed write.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Bundle fixtures/`fixture` into `dir`; returns the bundle's path. A bundled child starts
 * in tens of milliseconds, where tsx would take hundreds.
 */
export async function bundleWriter(fixture: string, dir: string): Promise<string> {
  const bundle = join(dir, 'writer.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    logLevel: 'silent',
  });
  return bundle;
}

export interface Writer {
  run(afterWrites: number, delayMs: number): Promise<void>;
}

/**
 * Start a writer process on `target` that waits, ready, for `run`: then it is SIGKILLed
 * `delayMs` after it has reported `afterWrites` completed writes (it keeps writing
 * meanwhile, so the kill lands at an arbitrary point of a later write or between
 * writes, however fast or slow the machine is). Starting the next writer while one runs
 * keeps process start-up out of the critical path.
 */
export function startWriter(bundle: string, target: string): Writer {
  const child = spawn(process.execPath, [bundle, target], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  let out = '';
  let waiter: (() => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    waiter?.();
  });
  const died = new Promise<never>((_resolve, reject) =>
    child.on('exit', () => reject(new Error(`writer exited before it was killed: ${stderr}`))),
  );
  died.catch(() => undefined);
  const until = (cond: () => boolean) =>
    Promise.race([
      died,
      new Promise<void>((resolve) => {
        waiter = () => {
          if (cond()) resolve();
        };
        waiter();
      }),
    ]);
  const writesDone = () => out.length - out.indexOf('\n') - 1;
  return {
    async run(afterWrites: number, delayMs: number): Promise<void> {
      await until(() => out.includes('ready\n'));
      child.stdin.write('go\n');
      await until(() => writesDone() >= afterWrites);
      await sleep(delayMs);
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL', `the writer stopped on its own: ${stderr}`);
    },
  };
}
