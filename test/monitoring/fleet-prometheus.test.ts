/**
 * A real Prometheus on loopback scrapes six simulated devices' real
 * `kubesolo-update metrics --listen` (the built bundle) and answers the fleet questions
 * through its HTTP query API, with the shipped rules loaded: every alert of the rules
 * file fires here for the device it is about, and for no other. The devices get into
 * their states through the real agent: updated and committed (ok), refused by the
 * channel gate (failed), a new slot that never committed so GRUB fell back (fallback),
 * activated and never rebooted (stuck), updated but last checked two days ago (overdue),
 * and never checked with a corrupt GRUB environment (damaged). Where an alert needs time
 * to pass (stuck for an hour, a check a day old), the agent's own timestamps in
 * state.json are moved back; nothing else is written by hand. Every PromQL expression of
 * the shipped Grafana dashboard is then executed against the same Prometheus.
 */
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import type { Device } from '../helpers/device.js';
import { startMetricsListener } from '../helpers/metrics-listener.js';
import { dashboardExpressions, type Filters } from './dashboard.js';
import { agentOn, useFleet } from './fleet.js';
import {
  eventually,
  prometheusSkipReason,
  RULES_FILE,
  startWithShippedRules,
  DASHBOARD_FILE,
  type PrometheusServer,
  type PromSample,
} from './prometheus.js';

const KERNEL_BYTES = 64 * 1024;
const INITRAMFS_BYTES = 256 * 1024;

function byLabel(samples: PromSample[], label: string): Record<string, number> {
  return Object.fromEntries(samples.map((s) => [s.metric[label] ?? '', Number(s.value[1])]));
}

type DeviceName = 'ok' | 'failed' | 'fallback' | 'stuck' | 'overdue' | 'damaged';

/** Move timestamps the agent recorded in state.json back by `seconds`. */
async function age(dev: Device, keys: string[], seconds: number): Promise<void> {
  const path = dev.path('var/lib/kubesolo/update/state.json');
  const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
  for (const k of keys) {
    assert.ok(doc[k], `state.json has ${k}`);
    doc[k] = new Date(Date.parse(doc[k]) - seconds * 1000).toISOString();
  }
  await writeFile(path, JSON.stringify(doc, null, 2) + '\n');
}

describe('fleet questions answered by a real Prometheus', { skip: prometheusSkipReason() }, () => {
  const fleet = useFleet({
    version: 'v1.1.0',
    channel: 'stable',
    kernelBytes: KERNEL_BYTES,
    initramfsBytes: INITRAMFS_BYTES,
  });
  const devices: Record<DeviceName, Device> = {} as never;
  const listeners: ChildProcess[] = [];
  let prom: PrometheusServer;

  before(async () => {
    for (const [name, channel] of [
      ['ok', 'stable'],
      ['failed', 'beta'],
      ['fallback', 'stable'],
      ['stuck', 'stable'],
      ['overdue', 'stable'],
      ['damaged', 'edge'],
    ] as const) {
      devices[name] = await fleet.device({ channel, health_checks: 'disk_writable' });
    }
    // ok and overdue: updated to v1.1.0, rebooted, health-checked and committed; ok
    // checks again, overdue's last check is then made two days old.
    for (const name of ['ok', 'overdue'] as const) {
      await agentOn(devices[name], ['apply', '--activate']);
      assert.equal(await devices[name].reboot(), 'B');
      await agentOn(devices[name], ['healthcheck', '--timeout', '0']);
    }
    await agentOn(devices.ok, ['check']);
    await age(devices.overdue, ['last_check_at'], 2 * 86_400);
    // failed: the beta device is offered a stable release: CHANNEL_MISMATCH (exit 3).
    await agentOn(devices.failed, ['apply'], 3);
    // fallback: B never commits; after three tries GRUB boots A again.
    await agentOn(devices.fallback, ['apply', '--activate']);
    for (let i = 0; i < 4; i++) await devices.fallback.reboot();
    // The boot's health check (the DaemonSet runs it on every boot) records the
    // fallback; status only shows it (it writes nothing).
    await agentOn(devices.fallback, ['healthcheck', '--timeout', '0']);
    // stuck: activated two hours ago and never rebooted.
    await agentOn(devices.stuck, ['apply', '--activate']);
    await age(devices.stuck, ['activated_at', 'phase_since'], 2 * 3600);
    // damaged: never checked, and its GRUB environment is garbage.
    await writeFile(devices.damaged.path('boot/grub/grubenv'), 'not an environment block\n');

    const targets: string[] = [];
    for (const name of Object.keys(devices) as DeviceName[]) {
      const { target, child } = await startMetricsListener(devices[name].root);
      listeners.push(child);
      targets.push(`      - targets: ['${target}']\n        labels: { node: ${name}, site: lab }`);
    }
    prom = await startWithShippedRules(targets);
  });

  after(async () => {
    await prom?.stop();
    for (const child of listeners) child.kill('SIGTERM');
  });

  it('counts devices by running version', async () => {
    const byVersion = await eventually(
      'count by version',
      async () => byLabel(await prom.query('count by (version) (kubesolo_update_info)'), 'version'),
      (v) => Object.values(v).reduce((a, b) => a + b, 0) === 6,
    );
    assert.deepEqual(byVersion, { 'v1.0.0': 4, 'v1.1.0': 2 });
    const recorded = await eventually(
      'recording rule count_by_version',
      async () => byLabel(await prom.query('kubesolo_update:devices:count_by_version'), 'version'),
      (v) => v['v1.0.0'] === byVersion['v1.0.0'] && v['v1.1.0'] === byVersion['v1.1.0'],
    );
    assert.deepEqual(recorded, byVersion);
  });

  it('counts devices by phase, and says which device is in which', async () => {
    const byPhase = await eventually(
      'count by phase',
      async () => byLabel(await prom.query('kubesolo_update:devices:count_by_phase'), 'phase'),
      (v) => v.success === 2 && v.failed === 1 && v.rolled_back === 1 && v.activated === 1,
    );
    // damaged: its state says idle, and it is counted there.
    assert.deepEqual(byPhase, {
      idle: 1,
      checking: 0,
      downloading: 0,
      staged: 0,
      activated: 1,
      verifying: 0,
      success: 2,
      rolled_back: 1,
      failed: 1,
    });
    const phaseOf = Object.fromEntries(
      (await prom.query('kubesolo_update_phase == 1')).map((s) => [s.metric.node, s.metric.phase]),
    );
    assert.deepEqual(phaseOf, {
      ok: 'success',
      failed: 'failed',
      fallback: 'rolled_back',
      stuck: 'activated',
      overdue: 'success',
      damaged: 'idle',
    });
  });

  it('keeps each device to about 30 series (docs/fleet.md sizes the fleet with it)', async () => {
    const perDevice = byLabel(
      await prom.query('count by (node) ({__name__=~"kubesolo_update_.*", job="kubesolo-update"})'),
      'node',
    );
    // ok: all 25 single families (build_info included) and the floor its commit
    // recorded; failed: one failure reason, but never activated or applied; fallback:
    // like ok, but no commit, so no floor; stuck: applied and activated, no commit;
    // damaged: never checked (no check, offer or apply series) plus its problem sample.
    // Every device adds the hold and the count of quarantined releases; one outcome per
    // release it tried (ok, fallback, stuck, overdue) and fallback's quarantined release.
    // (No release here has a rollout: no bucket series.)
    assert.deepEqual(perDevice, {
      ok: 29,
      failed: 25,
      fallback: 29,
      stuck: 28,
      overdue: 29,
      damaged: 21,
    });
  });

  it('fires every alert of the rules file, each for the right devices only, naming the node', async () => {
    const expected = [
      // Stable is split between v1.0.0 (fallback, stuck) and v1.1.0 (ok, overdue):
      // the median lies between them.
      'KubesoloUpdateBehindFleet fallback -',
      'KubesoloUpdateBehindFleet stuck -',
      'KubesoloUpdateCheckOverdue overdue -',
      'KubesoloUpdateFailed failed CHANNEL_MISMATCH',
      'KubesoloUpdateMetricsDegraded damaged GRUBENV_CORRUPT',
      'KubesoloUpdateNeverChecked damaged -',
      'KubesoloUpdateRolledBack fallback BOOT_FALLBACK',
      'KubesoloUpdateStuck stuck -',
    ];
    const firing = await eventually(
      'firing alerts',
      async () =>
        (await prom.query('ALERTS{alertstate="firing"}'))
          .map(
            (s) =>
              `${s.metric.alertname} ${s.metric.node} ${s.metric.reason ?? s.metric.code ?? '-'}`,
          )
          .sort(),
      (v) => v.length >= expected.length,
    );
    assert.deepEqual(firing, expected);
    // Every alert of the rules file is among them.
    const doc = parse(await readFile(RULES_FILE, 'utf8')) as {
      groups: { rules: { alert?: string; labels?: Record<string, string> }[] }[];
    };
    // Alerts about a release (scope: release) need five devices that tried it: they are
    // fired by test/monitoring/release-failing-prometheus.test.ts.
    const alerts = doc.groups.flatMap((g) =>
      g.rules.flatMap((r) => (r.alert && r.labels?.scope !== 'release' ? [r.alert] : [])),
    );
    assert.deepEqual([...new Set(firing.map((f) => f.split(' ')[0]))].sort(), [...alerts].sort());
    // Their summaries name the node (the rules' annotations, rendered by Prometheus).
    const res = (await (await fetch(`${prom.url}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; annotations: Record<string, string> }[] };
    };
    for (const a of res.data.alerts) {
      assert.ok(a.annotations.summary!.includes(` ${a.labels.node}`), a.annotations.summary);
      assert.match(a.annotations.runbook_url!, /docs\/fleet\.md#kubesoloupdate/);
    }
  });

  it('exports what the agent recorded: checks, offers, counters, apply cost', async () => {
    const q = async (expr: string) => byLabel(await prom.query(expr), 'node');
    assert.deepEqual(await q('kubesolo_update_rollbacks_total{reason="BOOT_FALLBACK"}'), {
      ok: 0,
      failed: 0,
      fallback: 1,
      stuck: 0,
      overdue: 0,
      damaged: 0,
    });
    assert.deepEqual(await q('kubesolo_update_failures_total'), { failed: 1 });
    assert.deepEqual(await q('kubesolo_update_available_info{version="v1.1.0"}'), {
      ok: 1,
      failed: 1,
      fallback: 1,
      stuck: 1,
      overdue: 1,
    });
    // Checked within the test's lifetime, by apply (all) and by check (ok); overdue's
    // check was moved two days back.
    const checkAge = await q('time() - kubesolo_update_last_check_timestamp_seconds');
    assert.deepEqual(Object.keys(checkAge).sort(), [
      'failed',
      'fallback',
      'ok',
      'overdue',
      'stuck',
    ]);
    for (const [node, seconds] of Object.entries(checkAge)) {
      if (node === 'overdue') assert.ok(seconds > 2 * 86_400 - 600, String(seconds));
      else assert.ok(seconds >= 0 && seconds < 600, `${node}: ${seconds}`);
    }
    assert.deepEqual(await q('kubesolo_update_last_apply_bytes'), {
      ok: KERNEL_BYTES + INITRAMFS_BYTES,
      fallback: KERNEL_BYTES + INITRAMFS_BYTES,
      stuck: KERNEL_BYTES + INITRAMFS_BYTES,
      overdue: KERNEL_BYTES + INITRAMFS_BYTES,
    });
    const seconds = await q('kubesolo_update_last_apply_duration_seconds');
    assert.ok(seconds.ok! > 0 && seconds.ok! < 60, JSON.stringify(seconds));
    assert.deepEqual(
      await q('kubesolo_update_available_version_number > kubesolo_update_version_number'),
      {
        failed: 10000100000,
        fallback: 10000100000,
        stuck: 10000100000,
      },
    );
  });

  it('every PromQL expression of the Grafana dashboard runs without error', async () => {
    const exprs = dashboardExpressions(JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')));
    assert.ok(exprs.length >= 15, `only ${exprs.length} expressions found`);
    const failures: string[] = [];
    for (const { panel, expr } of exprs) {
      try {
        await prom.query(expr);
      } catch (err) {
        failures.push(`${panel}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
    // Not a vacuous pass: this fleet gives every panel something to show. Rates need
    // two scrapes, hence eventually.
    for (const { panel, expr } of exprs) {
      await eventually(
        `data for panel "${panel}" (${expr})`,
        () => prom.query(expr),
        (r) => r.length > 0,
      );
    }
  });

  it('the dashboard filters by channel, version and site', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')) as {
      templating: { list: { name: string; type: string; query?: { query: string } }[] };
    };
    const vars = dash.templating.list.filter((v) => v.type === 'query');
    assert.deepEqual(
      vars.map((v) => v.name),
      ['site', 'channel', 'version'],
    );
    // Each variable's values come from the fleet's own labels.
    for (const v of vars) {
      const m = /^label_values\((kubesolo_update_info)(\{[^}]*\})?, (\w+)\)$/.exec(v.query!.query);
      assert.ok(m, v.query!.query);
      assert.equal(m[3], v.name);
      const selector = (m[2] ?? '').replace(/\$\w+/g, '.*');
      const values = await prom.query(`count by (${v.name}) (${m[1]}${selector})`);
      assert.ok(values.length > 0, v.name);
    }
    const devicesPanel = (filters: Filters) =>
      dashboardExpressions(JSON.parse(JSON.stringify(dash)) as never, filters).find(
        (e) => e.panel === 'Devices',
      )!.expr;
    const count = async (filters: Filters) =>
      Number((await prom.query(devicesPanel(filters)))[0]?.value[1] ?? 0);
    assert.equal(await count({}), 6);
    assert.equal(await count({ channel: 'beta' }), 1);
    assert.equal(await count({ channel: 'stable', version: 'v1.1.0' }), 2);
    assert.equal(await count({ site: 'lab' }), 6);
    assert.equal(await count({ site: 'elsewhere' }), 0);
    // A panel of another series is narrowed the same way.
    const failed = dashboardExpressions(dash as never, { channel: 'stable' }).find(
      (e) => e.panel === 'Failed',
    )!.expr;
    assert.equal(Number((await prom.query(failed))[0]!.value[1]), 0);
  });
});
