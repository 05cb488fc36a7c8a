/**
 * The garbage pacer: it must run without errors and without leaking V8's `gc` into
 * the agent's global scope (it is reached through a separate context). Its effect on
 * memory is measured in bench/download.bench.mjs, not here.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { GarbagePacer } from '../../src/transport/download/memory.js';

describe('GarbagePacer', () => {
  it('paces scavenges by bytes without exposing gc globally', () => {
    const pacer = new GarbagePacer(64 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 64; i++) pacer.add(Buffer.alloc(64 * 1024).length);
    assert.equal('gc' in globalThis, false);
    // 4 MiB allocated and dropped in 64 KiB pieces, a scavenge after each: almost
    // nothing of it is still held.
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(held < 1024 * 1024, `${held} bytes of dropped buffers still held`);
  });
});
