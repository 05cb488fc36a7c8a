/**
 * Crash test (issue #3 item 2): child processes rewrite a grubenv file in a loop
 * with writeGrubEnvFile and are SIGKILLed at random moments, at least 200 times.
 * After every kill the file must be byte-identical to a block that was written
 * completely, and never older than the one seen before.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { parseGrubEnv, serializeGrubEnv } from '../../src/bootenv/grubenv.js';
import { blockVars } from './fixtures/grubenv-writer.js';

const WORKERS = 4;
const KILLS_PER_WORKER = 50; // 200 kills in all
const MAX_DELAY_MS = 5;

describe('grubenv writes survive SIGKILL at any point', () => {
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-grubenv-crash-'));
    // A bundled child starts in tens of milliseconds, where tsx would take hundreds.
    bundle = join(dir, 'writer.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('./fixtures/grubenv-writer.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundle,
      logLevel: 'silent',
    });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  interface Writer {
    run(afterWrites: number, delayMs: number): Promise<void>;
  }

  /**
   * Start a writer process that waits, ready, for `run`: then it is SIGKILLed
   * `delayMs` after it has reported `afterWrites` completed writes (it keeps writing
   * meanwhile, so the kill lands at an arbitrary point of a later write or between
   * writes, however fast or slow the machine is). Starting the next writer while one runs keeps
   * process start-up out of the critical path.
   */
  function startWriter(path: string): Writer {
    const child = spawn(process.execPath, [bundle, path], { stdio: ['pipe', 'pipe', 'pipe'] });
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
        const signal = await exited;
        assert.equal(signal, 'SIGKILL', `the writer stopped on its own: ${stderr}`);
      },
    };
  }

  it(`${WORKERS * KILLS_PER_WORKER} kills: always a complete old or new block`, async (t) => {
    let kills = 0;
    let writes = 0;
    let midWrite = 0;
    async function worker(w: number): Promise<void> {
      const sub = await mkdtemp(join(dir, `w${w}-`));
      const path = join(sub, 'grubenv');
      await writeFile(path, serializeGrubEnv(blockVars(0)));
      let lastSeq = 0;
      let next = startWriter(path);
      for (let i = 0; i < KILLS_PER_WORKER; i++) {
        const current = next;
        const running = current.run(Math.floor(Math.random() * 4), Math.random() * MAX_DELAY_MS);
        if (i + 1 < KILLS_PER_WORKER) next = startWriter(path);
        await running;
        kills++;
        const bytes = await readFile(path);
        const seq = Number(parseGrubEnv(bytes).get('seq'));
        assert.ok(Number.isInteger(seq), 'seq variable');
        assert.ok(bytes.equals(serializeGrubEnv(blockVars(seq))), `torn block at seq ${seq}`);
        assert.ok(seq >= lastSeq, `went back from ${lastSeq} to ${seq}`);
        writes += seq - lastSeq;
        lastSeq = seq;
        // A temp file left behind means the kill landed between open and rename.
        // The next writer removes it, so they never pile up.
        const temps = (await readdir(sub)).filter((n) => n.startsWith('.grubenv.tmp-'));
        assert.ok(temps.length <= 1, `temp files piling up: ${temps.join(', ')}`);
        if (temps.length === 1) midWrite++;
      }
    }
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    t.diagnostic(
      `kills ${kills}, completed writes ${writes}, kills between open and rename ${midWrite}`,
    );
    assert.ok(kills >= 200);
    // The kills must have landed both inside writes (before the rename) and between
    // completed writes, or the test proves nothing.
    assert.ok(writes >= 100, `only ${writes} writes completed over ${kills} kills`);
    assert.ok(midWrite >= 20, `only ${midWrite} kills landed inside a write`);
  });
});
