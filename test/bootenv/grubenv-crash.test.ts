/**
 * Crash test (issue #3 item 2): child processes rewrite a grubenv file in a loop
 * with writeGrubEnvFile and are SIGKILLed at random moments, at least 200 times.
 * After every kill the file must be byte-identical to a block that was written
 * completely, and never older than the one seen before.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseGrubEnv, serializeGrubEnv } from '../../src/bootenv/grubenv.js';
import { bundleWriter, startWriter } from './crash-writer.js';
import { blockVars } from './fixtures/grubenv-writer.js';

const WORKERS = 4;
const KILLS_PER_WORKER = 50; // 200 kills in all
const MAX_DELAY_MS = 5;

describe('grubenv writes survive SIGKILL at any point', () => {
  let dir: string;
  let bundle: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-grubenv-crash-'));
    bundle = await bundleWriter('grubenv-writer.ts', dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`${WORKERS * KILLS_PER_WORKER} kills: always a complete old or new block`, async (t) => {
    let kills = 0;
    let writes = 0;
    let midWrite = 0;
    async function worker(w: number): Promise<void> {
      const sub = await mkdtemp(join(dir, `w${w}-`));
      const path = join(sub, 'grubenv');
      await writeFile(path, serializeGrubEnv(blockVars(0)));
      let lastSeq = 0;
      let next = startWriter(bundle, path);
      for (let i = 0; i < KILLS_PER_WORKER; i++) {
        const current = next;
        const running = current.run(Math.floor(Math.random() * 4), Math.random() * MAX_DELAY_MS);
        if (i + 1 < KILLS_PER_WORKER) next = startWriter(bundle, path);
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
