/**
 * Node's process.arch → Go's GOARCH names, used by latest.json and OCI platforms. The
 * table lives with the build's identity (src/version.ts, the base layer), which the
 * User-Agent of the lower layers needs too.
 */
import { GO_ARCH } from '../version.js';

export { goArch } from '../version.js';
/** The architectures a device reports: what `publish --arch` and `push --arch` accept. */
export const KNOWN_ARCHITECTURES: readonly string[] = [...new Set(Object.values(GO_ARCH))];

/** Other names for them (uname -m, Debian, Node), to say which one was meant. */
export const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  armv7l: 'arm',
  armel: 'arm',
  i386: '386',
  i686: '386',
  ia32: '386',
  ppc64el: 'ppc64le',
};
