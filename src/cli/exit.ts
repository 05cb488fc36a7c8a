/**
 * The one place the process exits. Like npm cli's exit handler: flush stdout and
 * stderr first, so `kubesolo-update status --json | jq` never loses the tail of
 * its output to process.exit().
 */
import { ExitCode, KubesoloError, toKubesoloError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Output } from './output.js';

function flush(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    if (!stream.write('', () => resolve())) stream.once('drain', () => resolve());
  });
}

export async function exitProcess(code: number): Promise<never> {
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
  process.exit(code);
}

/** Report an error (log + --json document) and return the exit code it maps to. */
export function reportError(err: unknown, log: Logger, out: Output): ExitCode {
  const e: KubesoloError = toKubesoloError(err);
  const causeMsg = e.cause instanceof Error ? e.cause.message : undefined;
  log.error(e.message, { code: e.code, ...e.details, ...(causeMsg ? { cause: causeMsg } : {}) });
  out.data({ ok: false, error: e.toJSON() });
  if (e.code === 'UNEXPECTED' && e.cause instanceof Error && e.cause.stack) {
    log.debug('stack', { stack: e.cause.stack });
  }
  return e.exitCode;
}
