import { goArch } from './arch.js';

/** The version of this agent build (kept in step with package.json). */
export const VERSION = '0.1.0';

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
