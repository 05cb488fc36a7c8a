// What the whole-process benchmarks share: random files with their digests, timed runs
// of a command under `nice` and GNU time (wall, CPU, peak RSS), killing a process tree,
// medians.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

/** Write `bytes` random bytes to `path`; returns their SHA-256 (hex). */
export function makeFile(path, bytes) {
  const block = Buffer.allocUnsafe(8 * MiB);
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let done = 0; done < bytes; done += block.length) {
    const n = Math.min(block.length, bytes - done);
    randomFillSync(block, 0, n);
    writeSync(fd, block, 0, n);
    hash.update(block.subarray(0, n));
  }
  closeSync(fd);
  return hash.digest('hex');
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * A timer for processes: every measured process runs under the same `nice` (the
 * machine is shared by other jobs; this keeps their load from dominating) and GNU
 * time, for CPU time and peak RSS. `tmp` holds GNU time's output file.
 */
export function processTimer(tmp, nice) {
  const timeFile = join(tmp, 'time.out');
  return function run(cmd, args, { onSpawn, env } = {}) {
    return new Promise((resolvePromise, reject) => {
      const t0 = process.hrtime.bigint();
      const child = spawn(
        'nice',
        ['-n', String(nice), '/usr/bin/time', '-o', timeFile, '-f', '%U %S %M', cmd, ...args],
        { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      onSpawn?.(child);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        let cpu = NaN;
        let rssKiB = NaN;
        try {
          const [u, sy, m] = readFileSync(timeFile, 'utf8')
            .trim()
            .split('\n')
            .at(-1)
            .split(' ')
            .map(Number);
          cpu = (u + sy) * 1000;
          rssKiB = m;
        } catch {
          // killed runs write no time line
        }
        resolvePromise({ code, signal, out, err, ms, cpu, rssKiB });
      });
    });
  };
}

/**
 * SIGKILL a process and its descendants (by pid, via /proc), e.g. nice → time → node.
 * Returns the pids it signalled.
 */
export function killTree(pid) {
  let kids = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // already gone
  }
  const signalled = kids.flatMap((k) => killTree(k));
  try {
    process.kill(pid, 'SIGKILL');
    signalled.push(pid);
  } catch {
    // already gone
  }
  return signalled;
}

/**
 * Wait (up to `ms`) until none of `pids` exists any more. A SIGKILLed process takes a
 * while to be torn down and reaped on a loaded machine, and a rerun started before
 * that finds the agent's lock still held (LOCKED).
 */
export async function waitGone(pids, ms = 10_000) {
  const until = Date.now() + ms;
  // Until reaped, even a zombie has its /proc entry, and the agent's lock counts that
  // as its owner still running (src/stores/lock.ts).
  const alive = (pid) => existsSync(`/proc/${pid}`);
  while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Command-line flags into `opts` (mutated): `--kebab-name VALUE` for a number option
 * `kebabName`, `--name` sets a false boolean to true, `--no-name` a true one to false.
 * Anything else exits 2.
 */
export function parseFlags(argv, opts) {
  const key = (flag) => flag.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const wanted = key(a.replace(/^--(no-)?/, '')).toLowerCase();
    const name = Object.keys(opts).find((k) => k.toLowerCase() === wanted);
    if (a.startsWith('--no-') && opts[name] === true) opts[name] = false;
    else if (a.startsWith('--') && opts[name] === false) opts[name] = true;
    else if (a.startsWith('--') && typeof opts[name] === 'number') opts[name] = Number(argv[++i]);
    else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  return opts;
}

/**
 * An `onSpawn` for a timed run that SIGKILLs the process tree as soon as `path` holds
 * `bytes` bytes (polled every 2 ms); `result.killedAt` is the size it saw then,
 * `result.pids` the processes it killed (for waitGone).
 */
export function killWhenFileReaches(path, bytes) {
  const result = { killedAt: 0, pids: [] };
  result.onSpawn = (child) => {
    const timer = setInterval(() => {
      let size = 0;
      try {
        size = statSync(path).size;
      } catch {
        return;
      }
      if (size >= bytes) {
        result.killedAt = size;
        clearInterval(timer);
        result.pids = killTree(child.pid);
      }
    }, 2);
    child.on('exit', () => clearInterval(timer));
  };
  return result;
}
