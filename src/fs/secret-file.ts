/**
 * A secret kept in a file that is replaced while we run: the projected service-account
 * token (the kubelet rewrites it before it expires), a kubeconfig's `tokenFile`, the
 * metrics listener's bearer token from a mounted Secret. The file is looked at (stat)
 * on every use and read again only when its identity, size or time changed; Kubernetes
 * swaps such volumes through an atomic `..data` link, so a read never sees half a
 * value. An unreadable or empty file is `code`.
 */
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';

export interface SecretFile {
  readonly path: string;
  /** The value now (trimmed). */
  current(): Promise<string>;
}

export function secretFile(path: string, code: ReasonCode, what: string): SecretFile {
  let seen: { key: string; value: string } | undefined;
  return {
    path,
    async current() {
      try {
        const s = await stat(path);
        const key = `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
        if (seen?.key === key) return seen.value;
        const value = (await readFile(path, 'utf8')).trim();
        if (value === '') throw new Error('the file is empty');
        seen = { key, value };
        return value;
      } catch (err) {
        throw new ConfigError(code, `cannot read ${what} ${path}: ${(err as Error).message}`, {
          cause: err,
          details: { path },
        });
      }
    },
  };
}
