/**
 * `kubesolo-update healthcheck` (issue #6 §3): run the health checks until they pass
 * or --timeout expires, then commit the new slot, count the failure, or roll back
 * (src/agent/healthcheck.ts decides; docs/health.md describes it).
 */
import { createAgentContext } from '../../agent/context.js';
import { runHealthcheck, type HealthcheckResult } from '../../agent/healthcheck.js';
import { reconcile } from '../../agent/lifecycle.js';
import { requestReboot } from '../../agent/reboot.js';
import { otherSlot } from '../../bootenv/types.js';
import type { ConfigField } from '../../config/keys.js';
import { toKubesoloError, UsageError } from '../../errors.js';
import { parseHealthChecks, waitForHealthy } from '../../health/run.js';
import type { HealthOptions, HealthReport } from '../../health/types.js';
import { boolOpt, stringOpt, type Command, type CommandContext } from '../command.js';
import { checkRoot, DEVICE_GLOBALS, type AgentGlobal } from './global.js';
import { takeRunLock } from './session.js';

/** Seconds as a non-negative number (0: run the checks once). */
function seconds(ctx: CommandContext<AgentGlobal>, flag: string): number | undefined {
  const raw = stringOpt(ctx.values, flag);
  if (raw === undefined) return undefined;
  const n = Number(raw.trim());
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 86_400) {
    throw new UsageError(
      'INVALID_OPTION',
      `--${flag} wants seconds from 0 to 86400, got '${raw}'`,
      {
        details: { flag: `--${flag}` },
      },
    );
  }
  return n;
}

function checkLines(report: HealthReport): string[] {
  const rows = report.checks.map((c) => [
    c.name,
    c.verdict,
    c.reason,
    `${c.durationMs} ms`,
    c.message,
  ]);
  const widths = [13, 7, 26, 8];
  return rows.map((r) =>
    r.map((cell, i) => (i < widths.length ? cell.padEnd(widths[i]!) : cell)).join('  '),
  );
}

function summary(r: HealthcheckResult, autoRollbackAfter: number, reboot: boolean): string {
  const slot = r.state.targetSlot;
  const version = r.state.toVersion ?? '?';
  const failed = r.report.failed.join(', ');
  switch (r.action) {
    case 'committed':
      return `Healthy: slot ${slot ?? '?'} (${version}) is committed.`;
    case 'rolled_back':
      return `Unhealthy ${r.failures} time(s) in a row (${failed}): rolled back to slot ${slot ? otherSlot(slot) : '?'}. A reboot is needed to run it${reboot ? ': rebooting.' : ' (or pass --reboot).'}`;
    case 'failure_counted':
      return `Unhealthy (${failed}): failure ${r.failures} of ${autoRollbackAfter} before an automatic rollback.${r.note ? ` ${r.note}.` : ''}`;
    case 'reported':
      return `${r.report.ok ? 'Healthy' : `Unhealthy (${failed})`}; nothing committed or rolled back: ${r.note ?? ''}.`;
  }
}

export const healthcheckCommand: Command<AgentGlobal> = {
  name: 'healthcheck',
  summary: 'Run health checks; commit the new slot or roll it back',
  globals: DEVICE_GLOBALS,
  description: [
    'After an activation, on the new slot, retries the checks until all required ones',
    'pass or --timeout expires: healthy commits it (boot_success=1, phase success);',
    'unhealthy counts a failure (exit 5), and at --auto-rollback-after N failures in a',
    'row points GRUB back at the previous slot (phase rolled_back, HEALTH_CHECK_FAILED).',
    'With no trial to judge, runs the checks once and only reports the verdict.',
    'Exit 0 healthy, 5 unhealthy.',
  ].join('\n'),
  options: {
    timeout: {
      type: 'string',
      valueName: 'SECONDS',
      description: 'Retry for this long (default healthcheck_timeout, 300; 0 = once)',
    },
    interval: {
      type: 'string',
      valueName: 'SECONDS',
      description: 'Pause between attempts (default 5)',
    },
    'auto-rollback-after': {
      type: 'string',
      valueName: 'N',
      description: 'Roll back after N consecutive failures (default auto_rollback_after, 3)',
    },
    'health-checks': {
      type: 'string',
      valueName: 'LIST',
      description: 'Required checks, comma-separated (default health_checks, all)',
    },
    'node-name': {
      type: 'string',
      valueName: 'NAME',
      description: 'Kubernetes node name of this device (default: the host name)',
    },
    reboot: {
      type: 'boolean',
      description: 'Reboot after an automatic rollback (systemctl reboot, or reboot)',
    },
  },
  async run(ctx) {
    const g = ctx.global;
    checkRoot(g.root);
    const timeoutSec = seconds(ctx, 'timeout');
    const intervalSec = seconds(ctx, 'interval') ?? 5;
    const flags: Partial<Record<ConfigField, string>> = {};
    const arb = stringOpt(ctx.values, 'auto-rollback-after');
    if (arb !== undefined) flags.autoRollbackAfter = arb;
    const checks = stringOpt(ctx.values, 'health-checks');
    if (checks !== undefined) flags.healthChecks = checks;
    const agent = await createAgentContext(
      {
        root: g.root,
        confPath: g.conf,
        statePath: g.state,
        flags,
        progress: false,
        strict: g.strict,
      },
      ctx.log,
    );
    const { settings, paths, deps } = agent;
    const timeoutMs = (timeoutSec ?? settings.healthcheckTimeout) * 1000;
    const nodeName = stringOpt(ctx.values, 'node-name');
    const healthOptions: HealthOptions = {
      root: paths.root,
      required: parseHealthChecks(settings.healthChecks),
      kubeconfig: { root: paths.root, kubeconfigPath: settings.kubeconfig, env: process.env },
      stableSeconds: settings.healthStableSeconds,
      probeUrl: settings.healthcheckUrl,
      clock: deps.clock,
      log: ctx.log,
      ...(nodeName !== undefined ? { nodeName } : {}),
    };

    const result = await runHealthcheck(
      {
        store: deps.state,
        bootEnv: deps.bootEnv,
        log: ctx.log,
        // Best effort on a read-only or full state partition: the commit is GRUB's.
        lock: () => takeRunLock(paths.lock, true, ctx.log),
        reconcile: () => reconcile(deps),
        slots: deps.slots,
        currentBootId: await deps.bootId(),
        check: ({ retry }) =>
          waitForHealthy(healthOptions, {
            timeoutMs: retry ? timeoutMs : 0,
            intervalMs: intervalSec * 1000,
            clock: deps.clock,
            onAttempt: (report, attempt) => {
              if (!report.ok) {
                ctx.log.info('health checks not passing yet', {
                  attempt,
                  failed: report.checks
                    .filter((c) => c.verdict === 'fail')
                    .map((c) => `${c.name}:${c.reason}`),
                });
              }
            },
          }),
      },
      { autoRollbackAfter: settings.autoRollbackAfter },
    );

    const r = result;
    ctx.out.data({
      ok: r.exitCode === 0,
      healthy: r.report.ok,
      action: r.action,
      phase: r.state.phase,
      target_slot: r.state.targetSlot ?? null,
      running_slot: r.boot.runningSlot ?? null,
      health_check_failures: r.failures,
      auto_rollback_after: settings.autoRollbackAfter,
      reboot_required: r.rebootRequired,
      attempts: r.attempts,
      note: r.note ?? null,
      checks: r.report.checks.map((c) => ({
        name: c.name,
        verdict: c.verdict,
        reason: c.reason,
        message: c.message,
        duration_ms: c.durationMs,
      })),
      ...(r.report.ok
        ? {}
        : {
            error: {
              code: 'HEALTH_CHECK_FAILED',
              message: `health checks failed: ${r.report.failed.join(', ')}`,
              exitCode: 5,
            },
          }),
    });
    for (const line of checkLines(r.report)) ctx.out.line(line);
    ctx.out.line();
    ctx.out.line(summary(r, settings.autoRollbackAfter, boolOpt(ctx.values, 'reboot')));

    if (r.rebootRequired) {
      if (boolOpt(ctx.values, 'reboot')) {
        try {
          await requestReboot(ctx.log);
        } catch (err) {
          const e = toKubesoloError(err);
          ctx.log.error('reboot failed; reboot by hand to run the previous slot', {
            code: e.code,
          });
        }
      } else {
        ctx.log.warn('rolled back: reboot to run the previous slot (or pass --reboot)', {
          code: 'REBOOT_REQUIRED',
        });
      }
    }
    return r.exitCode;
  },
};
