/**
 * The metrics listener's access check (docs/kubernetes.md "Who may scrape"): with
 * `--token-file`, a scrape must send `Authorization: Bearer <the file's token>`. The
 * agent checks it itself (no kube-rbac-proxy on the device). Both sides are hashed
 * before the constant-time comparison, so neither the token's length nor its bytes
 * leak through timing. The file is a mounted Secret and is read again when it changes
 * (src/fs/secret-file.ts), so the token can be rotated without a restart.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { secretFile } from '../fs/secret-file.js';

export type BearerVerdict = 'ok' | 'missing' | 'wrong';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** A checker of Authorization headers against the token in `path`. */
export function bearerCheck(
  path: string,
): (authorization: string | undefined) => Promise<BearerVerdict> {
  const secret = secretFile(path, 'METRICS_TOKEN_UNREADABLE', 'the metrics token');
  return async (authorization) => {
    const expected = await secret.current();
    const m = /^Bearer +(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return 'missing';
    return timingSafeEqual(digest(m[1]!), digest(expected)) ? 'ok' : 'wrong';
  };
}

/** Check the token file once at start-up, so a missing Secret fails the container, not every scrape. */
export async function assertTokenReadable(path: string): Promise<void> {
  await secretFile(path, 'METRICS_TOKEN_UNREADABLE', 'the metrics token').current();
}
