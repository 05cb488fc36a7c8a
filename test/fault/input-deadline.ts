/**
 * A per-input deadline for the fuzzers' synchronous parsers. A parser that hangs (a loop
 * that never ends, catastrophic regex backtracking) blocks the test's own thread, so
 * nothing in that thread can stop it or say which input did it. A watchdog thread can:
 * the fuzzer marks each input in shared memory before and after the parse (a few
 * microseconds; a vm timeout per input costs a watchdog thread each, ~1.5 ms), and when
 * one input is inside the parser longer than the deadline the watchdog writes the
 * input to stderr and kills the test process, which fails the test file.
 */
import { Worker } from 'node:worker_threads';

const MAX_INPUT_BYTES = 8192;

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { seq, meta, bytes, limitMs, label } = workerData;
const pause = new Int32Array(new SharedArrayBuffer(4));
let seen = -1;
let since = Date.now();
for (;;) {
  Atomics.wait(pause, 0, 0, 50);
  const now = Atomics.load(seq, 0);
  if (now < 0) break;
  if (now !== seen) { seen = now; since = Date.now(); continue; }
  if (now % 2 === 1 && Date.now() - since > limitMs) {
    const input = Buffer.from(bytes.buffer, 0, Atomics.load(meta, 0)).toString('utf8');
    writeSync(2, label + ': input #' + (now - 1) / 2 + ' still being parsed after ' + limitMs +
      ' ms (per-input deadline): ' + JSON.stringify(input) + '\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}
`;

export interface InputDeadline {
  /** Run `parse(input)` under the deadline. */
  run<T>(input: string, parse: () => T): T;
  stop(): Promise<number>;
}

export function inputDeadline(label: string, limitMs: number): InputDeadline {
  const seq = new Int32Array(new SharedArrayBuffer(4));
  const meta = new Int32Array(new SharedArrayBuffer(4));
  const bytes = new Uint8Array(new SharedArrayBuffer(MAX_INPUT_BYTES));
  const worker = new Worker(WATCHDOG, {
    eval: true,
    workerData: { seq, meta, bytes, limitMs, label },
  });
  worker.unref();
  const encoder = new TextEncoder();
  return {
    run(input, parse) {
      const { written } = encoder.encodeInto(input, bytes);
      Atomics.store(meta, 0, written);
      Atomics.add(seq, 0, 1); // odd: inside the parser
      try {
        return parse();
      } finally {
        Atomics.add(seq, 0, 1);
      }
    },
    stop() {
      Atomics.store(seq, 0, -1);
      return worker.terminate();
    },
  };
}
