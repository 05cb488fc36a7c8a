/**
 * Health checks (issue #6): each check yields a verdict with a stable reason code and
 * its timing, so `healthcheck --json` shows exactly why a slot was (not) committed.
 */
import type { Clock } from '../clock.js';
import { HEALTH_CHECK_NAMES, type HealthCheckName } from '../config/keys.js';
import type { KubeconfigSearch } from '../kube/config.js';
import type { KubeClient } from '../kube/types.js';
import type { Logger } from '../log.js';
import type { ReasonCode } from '../reason-codes.js';

/** Check names, as written in `health_checks=` (docs/health.md); the config key owns the list. */
export const CHECK_NAMES = HEALTH_CHECK_NAMES;
export type CheckName = HealthCheckName;

export function isCheckName(value: string): value is CheckName {
  return (CHECK_NAMES as readonly string[]).includes(value);
}

/** Checks that run whatever `health_checks=` says: a device that cannot write its data partition is broken. */
export const ALWAYS_REQUIRED: readonly CheckName[] = ['disk_writable'];

export type Verdict = 'pass' | 'fail' | 'skipped';

export interface CheckResult {
  name: CheckName;
  verdict: Verdict;
  /** Stable SCREAMING_SNAKE code: OK on pass, NOT_REQUIRED / NOT_CONFIGURED when skipped, the cause on fail. */
  reason: ReasonCode;
  message: string;
  durationMs: number;
}

export interface HealthReport {
  /** True when no check failed (skipped checks do not count against it). */
  ok: boolean;
  checks: CheckResult[];
  /** Names of the failed checks, in CHECK_NAMES order. */
  failed: CheckName[];
  /** RFC 3339 time the run started (from the clock). */
  startedAt: string;
  durationMs: number;
}

export interface HealthOptions {
  /** `--root`: the containerd socket and the data directory are resolved under it. */
  root: string;
  /** Checks to run (`health_checks=`); default all. disk_writable always runs. */
  required?: readonly CheckName[] | undefined;
  /**
   * Kubernetes client to use. When absent, one is loaded from `kubeconfig` on every run
   * (KubeSolo may write admin.kubeconfig only late in boot) and closed afterwards.
   */
  kube?: KubeClient | undefined;
  /** Where to look for the kubeconfig (config key, KUBECONFIG); root defaults to `root`. */
  kubeconfig?: KubeconfigSearch | undefined;
  /** Name of the local node; default KUBESOLO_NODE_NAME, else the host name (src/kube/node-name.ts). */
  nodeName?: string | undefined;
  /** `health_stable_seconds`: how long kube-system pods must have been ready (default 30). */
  stableSeconds?: number | undefined;
  /** `healthcheck_url`: the probe URL; probe_url is skipped (NOT_CONFIGURED) without it. */
  probeUrl?: string | undefined;
  /** containerd socket (default /run/containerd/containerd.sock under root). */
  containerdSocket?: string | undefined;
  /** Deadline of each check in ms (default 10 000). */
  checkTimeoutMs?: number | undefined;
  clock?: Clock | undefined;
  log: Logger;
}

/** What a check function returns; the runner adds the name and timing. */
export interface Outcome {
  verdict: Verdict;
  reason: ReasonCode;
  message: string;
}

export const pass = (message: string): Outcome => ({ verdict: 'pass', reason: 'OK', message });
export const fail = (reason: ReasonCode, message: string): Outcome => ({
  verdict: 'fail',
  reason,
  message,
});
