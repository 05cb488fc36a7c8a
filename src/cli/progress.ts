/**
 * Download progress for humans (issue #4): on a terminal, one line rewritten in place
 * with bytes, rate and ETA; otherwise a log line every `logIntervalMs`, so CronJob
 * logs show progress without thousands of lines.
 */
import type { Logger } from '../log.js';
import { formatBytes } from '../units.js';
import { drawStatusLine, endStatusLine } from '../status-line.js';
import type { ProgressSink } from '../agent/deps.js';
import type { ProgressEvent } from '../transport/source.js';

export interface ProgressRendererOptions {
  /** Where the TTY line goes (default process.stderr). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Used when the stream is not a TTY. */
  log: Logger;
  /** Override TTY detection. */
  tty?: boolean;
  /** Minimum time between log lines when not on a TTY (default 10 s). */
  logIntervalMs?: number;
  /** Minimum time between TTY redraws (default 100 ms). */
  redrawIntervalMs?: number;
  now?: () => number;
}

/** The agent's progress sink; `done` ends the current line / logs the final figure. */
export type ProgressRenderer = ProgressSink;

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function createProgressRenderer(options: ProgressRendererOptions): ProgressRenderer {
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const now = options.now ?? (() => performance.now());
  const logInterval = options.logIntervalMs ?? 10_000;
  const redrawInterval = options.redrawIntervalMs ?? 100;
  let current: { artifact: string; start: number; startBytes: number } | undefined;
  let last: ProgressEvent | undefined;
  let lastEmit = -Infinity;

  /**
   * The rate, once it is measurable: bytes that arrived after the first event, over the
   * time since it. Before that (the first event, or a download that came in one
   * chunk, e.g. 64 KiB) there is no rate to show, and none is shown: `0 B/s` would say
   * the download stalls.
   */
  function measuredRate(event: ProgressEvent, t: number): number | undefined {
    if (current === undefined) return undefined;
    const elapsed = (t - current.start) / 1000;
    const bytes = event.receivedBytes - current.startBytes;
    return elapsed > 0 && bytes > 0 ? bytes / elapsed : undefined;
  }

  function describe(
    event: ProgressEvent,
    t: number,
  ): { line: string; rate?: number; eta?: number } {
    const rate = measuredRate(event, t);
    const total = event.totalBytes;
    const pct = total ? ` ${((100 * event.receivedBytes) / total).toFixed(0).padStart(3)}%` : '';
    const eta = total && rate !== undefined ? (total - event.receivedBytes) / rate : undefined;
    const line =
      `${event.artifact} ${formatBytes(event.receivedBytes)}` +
      (total ? ` / ${formatBytes(total)}` : '') +
      pct +
      (rate === undefined ? '' : ` ${formatBytes(Math.round(rate))}/s`) +
      (eta === undefined ? '' : ` ETA ${formatDuration(eta)}`);
    return {
      line,
      ...(rate === undefined ? {} : { rate }),
      ...(eta === undefined ? {} : { eta }),
    };
  }

  function emit(event: ProgressEvent, t: number): void {
    const { line, rate, eta } = describe(event, t);
    if (tty) {
      drawStatusLine(stream, line);
    } else {
      options.log.info('download progress', {
        artifact: event.artifact,
        bytes: event.receivedBytes,
        total: event.totalBytes,
        rate_bytes_per_s: rate === undefined ? undefined : Math.round(rate),
        eta_s: eta === undefined ? undefined : Math.round(eta),
      });
    }
  }

  return {
    onProgress(event) {
      const t = now();
      if (current?.artifact !== event.artifact) {
        if (current !== undefined && last !== undefined) this.done();
        // Rate counts from the first event, so resumed bytes do not inflate it.
        current = { artifact: event.artifact, start: t, startBytes: event.receivedBytes };
        lastEmit = -Infinity;
      }
      last = event;
      if (t - lastEmit < (tty ? redrawInterval : logInterval)) return;
      lastEmit = t;
      emit(event, t);
    },
    done() {
      if (last === undefined) return;
      emit(last, now());
      if (tty) endStatusLine(stream);
      last = undefined;
      current = undefined;
    },
  };
}
