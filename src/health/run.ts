/**
 * Run the configured checks once (`runHealthChecks`) or until they all pass or time
 * runs out (`waitForHealthy`). Checks run concurrently, each under its own deadline, so
 * one hung dependency cannot stall the others or the agent.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, KubesoloError } from '../errors.js';
import { loadKubeClient, localNodeName } from '../kube/index.js';
import type { KubeClient } from '../kube/types.js';
import { DEFAULT_PATHS, underRoot } from '../paths.js';
import { DEFAULT_CONTAINERD_SOCKET, checkContainerd } from './containerd.js';
import { checkDiskWritable } from './disk.js';
import { checkApiserver, checkKubeSystem, checkNodeReady } from './kube-checks.js';
import { checkProbeUrl } from './probe.js';
import {
  ALWAYS_REQUIRED,
  CHECK_NAMES,
  fail,
  isCheckName,
  type CheckName,
  type CheckResult,
  type HealthOptions,
  type HealthReport,
  type Outcome,
} from './types.js';

const DEFAULT_STABLE_SECONDS = 30;
const DEFAULT_CHECK_TIMEOUT_MS = 10_000;
const KUBE_CHECKS: readonly CheckName[] = ['apiserver', 'node_ready', 'kube_system'];

/**
 * Validate a `health_checks=` list. Unknown names are a configuration error (exit 2):
 * a typo must not silently drop a check that the operator meant to require.
 */
export function parseHealthChecks(names: readonly string[]): CheckName[] {
  const out: CheckName[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (name === '') continue;
    if (!isCheckName(name)) {
      throw new ConfigError(
        'HEALTH_CHECK_UNKNOWN',
        `unknown health check '${name}' (known: ${CHECK_NAMES.join(', ')})`,
        { details: { key: 'health_checks', value: name } },
      );
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The checks that run: the configured ones (default all) plus those that always run. */
export function requiredChecks(required: readonly CheckName[] | undefined): Set<CheckName> {
  return new Set([...(required ?? CHECK_NAMES), ...ALWAYS_REQUIRED]);
}

class CheckDeadline extends Error {}

async function withDeadline(work: Promise<Outcome>, ms: number, name: string): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckDeadline()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } catch (err) {
    if (err instanceof CheckDeadline) {
      return fail('CHECK_TIMEOUT', `${name}: no result within ${ms} ms`);
    }
    if (err instanceof KubesoloError) return fail(err.code, err.message);
    return fail('UNEXPECTED', `${name}: ${String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

type KubeSource = { client: KubeClient; owned: boolean } | { failure: Outcome };

async function kubeSource(options: HealthOptions, timeoutMs: number): Promise<KubeSource> {
  if (options.kube) return { client: options.kube, owned: false };
  const search = { ...options.kubeconfig, root: options.kubeconfig?.root ?? options.root };
  try {
    const client = await loadKubeClient({
      ...search,
      timeoutMs,
      onWarning: (w, path) => options.log?.warn(w, { kubeconfig: path }),
    });
    if (!client) {
      return {
        failure: fail(
          'KUBECONFIG_NOT_FOUND',
          `no kubeconfig found (kubeconfig=, KUBECONFIG, or ${DEFAULT_PATHS.kubeconfig} under ${search.root})`,
        ),
      };
    }
    return { client, owned: true };
  } catch (err) {
    if (err instanceof KubesoloError) return { failure: fail(err.code, err.message) };
    throw err;
  }
}

/**
 * Where disk_writable writes, on the data partition: the state directory when there is
 * one (the only part of /var/lib/kubesolo the pods mount, docs/kubernetes.md), else
 * the data directory itself (a device that never ran the agent). Nothing is created: a
 * missing data directory is an unmounted partition, which must fail.
 */
async function diskProbeDir(root: string): Promise<string> {
  const updateDir = underRoot(root, dirname(DEFAULT_PATHS.state));
  const isDir = await stat(updateDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return isDir ? updateDir : underRoot(root, DEFAULT_PATHS.dataDir);
}

/** Run every check once. Never throws for a failing check: that is a `fail` verdict. */
export async function runHealthChecks(options: HealthOptions): Promise<HealthReport> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const t0 = performance.now();
  const timeoutMs = options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const required = requiredChecks(options.required);
  const needKube = KUBE_CHECKS.some((c) => required.has(c));
  const kube = needKube ? await kubeSource(options, timeoutMs) : undefined;

  const run = (name: CheckName): Promise<Outcome> => {
    switch (name) {
      case 'containerd':
        return checkContainerd(
          underRoot(options.root, options.containerdSocket ?? DEFAULT_CONTAINERD_SOCKET),
          timeoutMs,
        );
      case 'disk_writable':
        return diskProbeDir(options.root).then(checkDiskWritable);
      case 'probe_url':
        return checkProbeUrl(options.probeUrl!, timeoutMs);
      default: {
        if (!kube || 'failure' in kube) return Promise.resolve(kube!.failure);
        if (name === 'apiserver') return checkApiserver(kube.client);
        if (name === 'node_ready')
          return checkNodeReady(kube.client, localNodeName(options.nodeName));
        return checkKubeSystem(
          kube.client,
          () => clock.now().getTime(),
          options.stableSeconds ?? DEFAULT_STABLE_SECONDS,
        );
      }
    }
  };

  const checks = await Promise.all(
    CHECK_NAMES.map(async (name): Promise<CheckResult> => {
      if (!required.has(name)) {
        return {
          name,
          verdict: 'skipped',
          reason: 'NOT_REQUIRED',
          message: 'not in health_checks',
          durationMs: 0,
        };
      }
      if (name === 'probe_url' && !options.probeUrl) {
        return {
          name,
          verdict: 'skipped',
          reason: 'NOT_CONFIGURED',
          message: 'no healthcheck_url configured',
          durationMs: 0,
        };
      }
      const c0 = performance.now();
      // The deadline guards checks with no timeout of their own (a hung disk) and is a
      // little longer than the network timeouts, so their more precise codes win.
      const outcome = await withDeadline(run(name), timeoutMs + 1000, name);
      return { name, ...outcome, durationMs: Math.round(performance.now() - c0) };
    }),
  );
  if (kube && 'client' in kube && kube.owned) kube.client.close();

  const failed = checks.filter((c) => c.verdict === 'fail').map((c) => c.name);
  for (const c of checks) {
    options.log?.debug('health check', {
      check: c.name,
      verdict: c.verdict,
      reason: c.reason,
      durationMs: c.durationMs,
    });
  }
  return {
    ok: failed.length === 0,
    checks,
    failed,
    startedAt: started.toISOString(),
    durationMs: Math.round(performance.now() - t0),
  };
}

export interface WaitOptions {
  /** Give up after this long (ms); 0 runs the checks once. */
  timeoutMs: number;
  /** Pause between attempts (ms, default 5000). */
  intervalMs?: number;
  clock?: Clock;
  /** How to wait (default setTimeout); tests advance a fake clock here. */
  sleep?: (ms: number) => Promise<void>;
  /** Called after each attempt (progress logs). */
  onAttempt?: (report: HealthReport, attempt: number) => void;
}

export interface WaitResult {
  ok: boolean;
  /** The last report: all passing, or what was still failing when time ran out. */
  report: HealthReport;
  attempts: number;
  elapsedMs: number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Retry the checks until all pass or `timeoutMs` has elapsed on the clock. Elapsed time
 * is measured on `clock`, never inferred from attempts, so a slow check counts.
 */
export async function waitForHealthy(
  options: HealthOptions,
  wait: WaitOptions,
): Promise<WaitResult> {
  const clock = wait.clock ?? options.clock ?? systemClock;
  const sleep = wait.sleep ?? realSleep;
  const intervalMs = wait.intervalMs ?? 5000;
  const start = clock.now().getTime();
  let attempts = 0;
  for (;;) {
    const elapsedBefore = clock.now().getTime() - start;
    const remaining = Math.max(1000, wait.timeoutMs - elapsedBefore);
    const report = await runHealthChecks({
      ...options,
      clock,
      checkTimeoutMs: Math.min(options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS, remaining),
    });
    attempts++;
    wait.onAttempt?.(report, attempts);
    const elapsedMs = clock.now().getTime() - start;
    if (report.ok || elapsedMs + intervalMs > wait.timeoutMs) {
      return { ok: report.ok, report, attempts, elapsedMs };
    }
    await sleep(intervalMs);
  }
}
