/**
 * `kubesolo-update healthcheck` (issue #6 §3): run the health checks until they pass
 * or --timeout expires, then commit the new slot, count the failure, or roll back
 * (src/agent/healthcheck.ts decides; docs/health.md describes it).
 */
import { healthcheckDevice, type HealthcheckResult } from '../../agent/healthcheck.js';
import { requestReboot } from '../../agent/reboot.js';
import { withAgent } from '../../agent/session.js';
import { otherSlot } from '../../bootenv/types.js';
import { HealthCheckError, toKubesoloError, UsageError } from '../../errors.js';
import type { HealthReport } from '../../health/types.js';
import { boolOpt, stringOpt, type Command, type CommandContext } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

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
    const options = {
      timeoutSeconds: seconds(ctx, 'timeout'),
      intervalSeconds: seconds(ctx, 'interval') ?? 5,
      nodeName: stringOpt(ctx.values, 'node-name'),
    };
    const request = { ...ctx.global, configFlags: { ...ctx.global.configFlags } };
    const arb = stringOpt(ctx.values, 'auto-rollback-after');
    if (arb !== undefined) request.configFlags.autoRollbackAfter = arb;
    const checks = stringOpt(ctx.values, 'health-checks');
    if (checks !== undefined) request.configFlags.healthChecks = checks;
    // The run lock is taken by the decision around its state changes, not here.
    const { result, settings } = await withAgent(request, ctx.log, {}, async (agent) => ({
      result: await healthcheckDevice(agent, options),
      settings: agent.settings,
    }));

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
            error: new HealthCheckError(
              'HEALTH_CHECK_FAILED',
              `health checks failed: ${r.report.failed.join(', ')}`,
            ).toJSON(),
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
