/**
 * The bearer token of a client: fixed (kubeconfig `token`) or a file that is replaced
 * before it expires (the projected service-account token, a kubeconfig `tokenFile`),
 * read again whenever it changes (src/fs/secret-file.ts).
 */
import { secretFile } from '../fs/secret-file.js';

export interface TokenSource {
  /** The token to send now. */
  current(): Promise<string>;
}

/** A token that never changes (kubeconfig `token`). */
export function fixedToken(token: string): TokenSource {
  return { current: () => Promise.resolve(token) };
}

/** The token in `path`; KUBE_TOKEN_UNREADABLE when it cannot be read. */
export function fileToken(path: string): TokenSource {
  return secretFile(path, 'KUBE_TOKEN_UNREADABLE', 'the bearer token');
}
