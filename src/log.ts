/**
 * Logging to stderr: JSON lines when stderr is not a terminal (collectors, CronJob
 * logs), readable lines on a terminal. stdout is reserved for command output.
 */
import { clearStatusLine } from './status-line.js';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  readonly level: LogLevel;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Force JSON lines (true) or human lines (false); default: JSON unless stderr is a TTY. */
  json?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  now?: () => Date;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const stream = options.stream ?? process.stderr;
  const json = options.json ?? !stream.isTTY;
  const now = options.now ?? (() => new Date());

  function emit(at: Exclude<LogLevel, 'silent'>, msg: string, fields: LogFields = {}): void {
    if (rank[at] < rank[level]) return;
    clearStatusLine(stream);
    if (json) {
      stream.write(JSON.stringify({ time: now().toISOString(), level: at, msg, ...fields }) + '\n');
    } else {
      const extra = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      stream.write(`${at.toUpperCase().padEnd(5)} ${msg}${extra ? ' ' + extra : ''}\n`);
    }
  }

  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything; for library tests. */
export const silentLogger: Logger = createLogger({ level: 'silent', json: true });
