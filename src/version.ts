/**
 * This build: its version, the architecture it runs on by Go's names, and the
 * User-Agent every request carries. The base layer, so the Kubernetes client and the
 * health probes (below the metadata layer) can name themselves too.
 */

/** The version of this agent build (kept in step with package.json). */
export const VERSION = '0.1.0';

/** Node's process.arch → Go's GOARCH names, used by latest.json, OCI platforms and the User-Agent. */
export const GO_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  riscv64: 'riscv64',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  loong64: 'loong64',
};

export function goArch(nodeArch: string = process.arch): string {
  return GO_ARCH[nodeArch] ?? nodeArch;
}

/** The two tools that make HTTP requests. */
export type Tool = 'kubesolo-update' | 'kubesolo-release';

/**
 * The User-Agent of every request the tools make (metadata, images, registries, the
 * Kubernetes API, health probes): `kubesolo-update/0.1.0 (linux; arm64)`, so a server's
 * logs tell agent versions and architectures apart (docs/fleet.md "Conventions").
 */
export function userAgent(tool: Tool = 'kubesolo-update', arch: string = goArch()): string {
  return `${tool}/${VERSION} (linux; ${arch})`;
}
