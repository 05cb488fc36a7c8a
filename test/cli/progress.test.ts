import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { createProgressRenderer, formatDuration } from '../../src/cli/progress.js';
import { formatBytes } from '../../src/units.js';

function sink(tty: boolean): {
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  text: () => string;
} {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = tty;
  return { stream, text: () => out };
}

/** A renderer on `s` with a silent logger and the test's clock. */
const ttyRenderer = (s: ReturnType<typeof sink>, now: () => number) =>
  createProgressRenderer({ stream: s.stream, log: createLogger({ level: 'silent' }), now });

// The TTY line starts with "\r ESC[2K" (erase line); the patterns match it literally.
/* eslint-disable no-control-regex */
describe('progress renderer', () => {
  it('on a TTY redraws one line with bytes, percent, rate and ETA, then ends the line', () => {
    const s = sink(true);
    let t = 0;
    const r = ttyRenderer(s, () => t);
    r.onProgress({ artifact: 'vmlinuz', receivedBytes: 0, totalBytes: 10 * 1024 * 1024 });
    t = 1000;
    r.onProgress({
      artifact: 'vmlinuz',
      receivedBytes: 2 * 1024 * 1024,
      totalBytes: 10 * 1024 * 1024,
    });
    t = 1050; // throttled: within the redraw interval
    r.onProgress({
      artifact: 'vmlinuz',
      receivedBytes: 3 * 1024 * 1024,
      totalBytes: 10 * 1024 * 1024,
    });
    r.done();
    const out = s.text();
    assert.match(out, /\r\x1b\[2Kvmlinuz 2\.0 MiB \/ 10\.0 MiB {2}20% 2\.0 MiB\/s ETA 0:04/);
    assert.ok(out.endsWith('\n'));
    assert.equal(
      out.split('\r').length - 1,
      3,
      'first, second and final draw; the throttled one skipped',
    );
  });

  it('off a TTY logs periodic JSON lines instead', () => {
    const s = sink(false);
    const logs = sink(false);
    let t = 0;
    const log = createLogger({ stream: logs.stream, json: true });
    const r = createProgressRenderer({ stream: s.stream, log, now: () => t, logIntervalMs: 5000 });
    for (let i = 0; i <= 20; i++) {
      t = i * 1000;
      r.onProgress({ artifact: 'initramfs', receivedBytes: i * 1000, totalBytes: 20_000 });
    }
    r.done();
    assert.equal(s.text(), '');
    const lines = logs
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 6, 'at 0, 5, 10, 15, 20 s and the final line');
    assert.equal(lines[2]!.msg, 'download progress');
    assert.equal(lines[2]!.bytes, 10_000);
    assert.equal(lines[2]!.rate_bytes_per_s, 1000);
    assert.equal(lines[2]!.eta_s, 10);
  });

  it('starts a fresh line and rate for each artifact', () => {
    const s = sink(true);
    let t = 0;
    const r = ttyRenderer(s, () => t);
    r.onProgress({ artifact: 'vmlinuz', receivedBytes: 5, totalBytes: undefined });
    t = 500;
    r.onProgress({ artifact: 'initramfs', receivedBytes: 1, totalBytes: 2 });
    r.done();
    assert.match(s.text(), /vmlinuz 5 B\r\x1b\[2Kvmlinuz 5 B\n\r\x1b\[2Kinitramfs 1 B \/ 2 B/s);
  });

  it('a download that arrives in one 64 KiB chunk shows no rate rather than a rate of 0', () => {
    const s = sink(true);
    const logs = sink(false);
    let t = 0;
    const log = createLogger({ stream: logs.stream, json: true });
    const tty = createProgressRenderer({ stream: s.stream, log, now: () => t });
    const off = createProgressRenderer({ stream: sink(false).stream, log, now: () => t });
    for (const r of [tty, off]) {
      t = 0;
      r.onProgress({ artifact: 'vmlinuz', receivedBytes: 65536, totalBytes: 65536 });
      t = 40;
      r.done();
    }
    assert.match(s.text(), /vmlinuz 64\.0 KiB \/ 64\.0 KiB 100%\n$/);
    assert.doesNotMatch(s.text(), /B\/s/);
    const lines = logs
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    for (const l of lines) assert.equal('rate_bytes_per_s' in l, false, JSON.stringify(l));
  });

  it('formats sizes and durations', () => {
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB');
    assert.equal(formatDuration(5), '0:05');
    assert.equal(formatDuration(3725), '1:02:05');
    assert.equal(formatDuration(Infinity), '--:--');
  });
});
