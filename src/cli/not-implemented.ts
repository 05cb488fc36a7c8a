import { OperationError } from '../errors.js';

/** Body of a command whose implementation lands in a later change: fails honestly (exit 1). */
export function notImplemented(what: string): () => Promise<never> {
  return () =>
    Promise.reject(new OperationError('NOT_IMPLEMENTED', `${what} is not implemented yet`));
}
