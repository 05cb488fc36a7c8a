/**
 * Crash and power-cut tests of the agent's U-Boot environment writes, as
 * grubenv-crash.test.ts does for grubenv:
 *
 * - child processes rewrite the environment in a loop and are SIGKILLed at random
 *   moments, 200 times per layout: with two copies the environment read afterwards is
 *   always a complete old or new one (and never older than before); with one copy it is
 *   complete, or its CRC says it is torn, never a valid mix;
 * - a power cut at every write point: the medium keeps the first N bytes of the copy
 *   being written, for N at every 512-byte sector boundary and around the header, and
 *   the environment read afterwards is the old one, the new one, or (one copy) torn and
 *   detected;
 * - a failure after each step of the write (open, write, sync, verify).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  loadUbootEnv,
  updateUbootEnv,
  type UbootEnvWriteStep,
} from '../../src/bootenv/uboot-env-file.js';
import { serializeUbootEnv, sortedVars } from '../../src/bootenv/uboot-env.js';
import { KubesoloError } from '../../src/errors.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { bundleWriter, startWriter } from './crash-writer.js';
import { seqVars } from './fixtures/uboot-env-writer.js';

const SIZE = 0x4000;
const WORKERS = 4;
const KILLS_PER_WORKER = 25; // per layout: 200 kills in all
const MAX_DELAY_MS = 5;

type Layout = 'single' | 'redundant';

/** A fresh environment at `seq` in `dir`: its fw_env.config path. */
function makeEnv(dir: string, layout: Layout, seq: number): string {
  const redundant = layout === 'redundant';
  const files = redundant ? ['env0', 'env1'] : ['env0'];
  files.forEach((f, i) => {
    const vars = i === 0 ? seqVars(seq) : seqVars(Math.max(0, seq - 1));
    writeFileSync(
      join(dir, f),
      serializeUbootEnv(sortedVars(vars), { size: SIZE, redundant, flags: i === 0 ? 1 : 0 }),
    );
  });
  const config = join(dir, 'fw_env.config');
  writeFileSync(config, files.map((f) => `${join(dir, f)} 0 0x${SIZE.toString(16)}\n`).join(''));
  return config;
}

/** The environment's seq, or 'torn' when no copy is valid. */
async function readSeq(config: string): Promise<number | 'torn'> {
  try {
    const env = await loadUbootEnv({ configPath: config, root: '/' });
    const seq = Number(env.vars.get('seq'));
    assert.deepEqual(
      env.vars,
      seqVars(seq),
      `a valid environment that is no complete write (seq ${seq})`,
    );
    return seq;
  } catch (err) {
    if (err instanceof KubesoloError && err.code === 'UBOOTENV_CORRUPT') return 'torn';
    throw err;
  }
}

describe('U-Boot environment writes survive SIGKILL and power cuts', () => {
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ks-ubootenv-crash-'));
    bundle = await bundleWriter('uboot-env-writer.ts', dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const layout of ['redundant', 'single'] as const) {
    it(`${layout}: ${WORKERS * KILLS_PER_WORKER} kills: ${layout === 'redundant' ? 'always a complete old or new environment' : 'complete, or torn and detected'}`, async (t) => {
      let kills = 0;
      let writes = 0;
      let midWrite = 0;
      async function worker(w: number): Promise<void> {
        const sub = mkdtempSync(join(dir, `${layout}-w${w}-`));
        const config = makeEnv(sub, layout, 1);
        let lastSeq = 1;
        let next = startWriter(bundle, config);
        for (let i = 0; i < KILLS_PER_WORKER; i++) {
          const current = next;
          const running = current.run(Math.floor(Math.random() * 4), Math.random() * MAX_DELAY_MS);
          // The next writer starts after this kill: it must find what the kill left.
          await running;
          kills++;
          const seq = await readSeq(config);
          if (seq === 'torn') {
            assert.equal(layout, 'single', 'with two copies a kill never leaves no valid copy');
            midWrite++;
            makeEnv(sub, layout, lastSeq); // the device would boot U-Boot's defaults; go on
          } else {
            assert.ok(seq >= lastSeq, `went back from ${lastSeq} to ${seq}`);
            writes += seq - lastSeq;
            lastSeq = seq;
            if (layout === 'redundant') {
              const env = await loadUbootEnv({ configPath: config, root: '/' });
              if (!env.copies[1 - env.current]!.crcOk) midWrite++;
            }
          }
          if (i + 1 < KILLS_PER_WORKER) next = startWriter(bundle, config);
        }
      }
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      // A kill cannot tear the one write(2) of a copy in the page cache (none did in
      // 400 kills here): this shows the process-crash safety of the write order; the
      // power-cut test below is the one that tears copies.
      t.diagnostic(
        `kills ${kills}, completed writes ${writes}, kills that left a copy torn ${midWrite}`,
      );
      assert.ok(kills >= WORKERS * KILLS_PER_WORKER);
      assert.ok(writes >= 50, `only ${writes} writes completed over ${kills} kills`);
    });
  }

  for (const layout of ['redundant', 'single'] as const) {
    it(`${layout}: a power cut at every write point leaves the old, the new${layout === 'single' ? ' or a detected torn' : ''} environment`, async () => {
      const sub = mkdtempSync(join(dir, `${layout}-cut-`));
      // 80 → 81: about 3 KiB of variables change, across several sectors.
      const config = makeEnv(sub, layout, 80);
      const files = layout === 'redundant' ? ['env0', 'env1'] : ['env0'];
      const old = files.map((f) => readFileSync(join(sub, f)));
      await updateUbootEnv({ configPath: config, root: '/' }, () => seqVars(81));
      const written = files.map((f) => readFileSync(join(sub, f)));
      const target = written.findIndex((b, i) => !b.equals(old[i]!));
      assert.equal(target, layout === 'redundant' ? 1 : 0, 'the write took the copy not in use');
      assert.equal(written.filter((b, i) => !b.equals(old[i]!)).length, 1, 'one copy written');
      const cuts = new Set([0, 1, 2, 3, 4, 5, 6, 100, SIZE - 1, SIZE]);
      for (let c = 512; c < SIZE; c += 512) cuts.add(c);
      const seen = new Map<string, number>();
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        files.forEach((f, i) => writeFileSync(join(sub, f), old[i]!));
        const medium: Buffer = Buffer.from(old[target]!);
        written[target]!.copy(medium, 0, 0, cut);
        writeFileSync(join(sub, files[target]!), medium);
        const seq = await readSeq(config);
        const what = seq === 80 ? 'old' : seq === 81 ? 'new' : String(seq);
        seen.set(what, (seen.get(what) ?? 0) + 1);
        // The new copy counts once every byte that differs has landed (its CRC covers
        // them all); before that, two copies give the old one, one copy is torn.
        const landed: boolean = medium.equals(written[target]!);
        const expected: string = landed
          ? 'new'
          : layout === 'redundant' || medium.equals(old[target]!)
            ? 'old'
            : 'torn';
        assert.equal(what, expected, `cut after ${cut} bytes`);
      }
      assert.ok(seen.size >= 2, JSON.stringify([...seen]));
    });
  }

  it('a failure after each step of the write leaves the old or the new environment', async () => {
    for (const layout of ['redundant', 'single'] as const) {
      for (const failAt of ['open', 'write', 'sync', 'verify'] as UbootEnvWriteStep[]) {
        const sub = mkdtempSync(join(dir, `${layout}-step-`));
        const config = makeEnv(sub, layout, 5);
        await rejectsWithCode(
          updateUbootEnv(
            {
              configPath: config,
              root: '/',
              onWriteStep: (step) => {
                if (step === failAt) throw new Error(`injected failure after ${step}`);
              },
            },
            () => seqVars(6),
          ),
          'UBOOTENV_WRITE_FAILED',
          1,
        );
        const seq = await readSeq(config);
        assert.equal(seq, failAt === 'open' ? 5 : 6, `${layout}, failure after ${failAt}`);
      }
    }
  });
});
