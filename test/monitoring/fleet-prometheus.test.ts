/**
 * A real Prometheus on loopback scrapes three simulated devices' real
 * `kubesolo-update metrics --listen` (the built bundle) and answers the fleet questions
 * through its HTTP query API, with the shipped rules loaded. The devices get into their
 * phases through the real agent: one updated and committed (success), one refused by the
 * channel gate (failed), one whose new slot never committed so GRUB fell back
 * (rolled_back, BOOT_FALLBACK). Every PromQL expression of the shipped Grafana dashboard
 * is then executed against the same Prometheus.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { AGENT_BIN, runAgent } from '../helpers/cli.js';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  serveDir,
  type Device,
  type StaticServer,
} from '../helpers/device.js';
import { dashboardExpressions } from './dashboard.js';
import {
  prometheusSkipReason,
  RULES_FILE,
  startPrometheus,
  DASHBOARD_FILE,
  type PrometheusServer,
  type PromSample,
} from './prometheus.js';

const keys = makeKeys();
const KERNEL_BYTES = 64 * 1024;
const INITRAMFS_BYTES = 256 * 1024;

async function agent(dev: Device, args: string[], expectCode = 0): Promise<void> {
  const r = await runAgent([...args, '--root', dev.root, '--json']);
  assert.equal(r.code, expectCode, `${args.join(' ')}: ${r.stderr}`);
}

/** `metrics --listen 127.0.0.1:0`; the port comes from its "serving metrics" log line. */
async function serveMetrics(dev: Device): Promise<{ target: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [AGENT_BIN, 'metrics', '--listen', '127.0.0.1:0', '--root', dev.root],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  const target = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /"url":"http:\/\/([^/]+)\/metrics"/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`metrics --listen exited ${code}: ${err}`)));
  });
  return { target, child };
}

/** The shipped rules with every `for` set to 0s, so alerts fire within the test (promtool covers the durations). */
async function rulesWithoutFor(): Promise<string> {
  const doc = parse(await readFile(RULES_FILE, 'utf8')) as {
    groups: { rules: { alert?: string; for?: string }[] }[];
  };
  for (const g of doc.groups) for (const r of g.rules) if (r.for !== undefined) r.for = '0s';
  return stringify(doc);
}

function byLabel(samples: PromSample[], label: string): Record<string, number> {
  return Object.fromEntries(samples.map((s) => [s.metric[label] ?? '', Number(s.value[1])]));
}

async function eventually<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
): Promise<T> {
  const deadline = Date.now() + 30_000;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what} did not settle within 30 s; last answer: ${JSON.stringify(last)}`);
}

describe('fleet questions answered by a real Prometheus', { skip: prometheusSkipReason() }, () => {
  let releases: string;
  let server: StaticServer;
  const devices: Record<'ok' | 'failed' | 'fallback', Device> = {} as never;
  const listeners: ChildProcess[] = [];
  let prom: PrometheusServer;

  before(async () => {
    releases = await mkdtemp(join(tmpdir(), 'ks-fleet-releases-'));
    server = await serveDir(releases);
    await publishRelease(releases, {
      version: 'v1.1.0',
      keys,
      channel: 'stable',
      kernelBytes: KERNEL_BYTES,
      initramfsBytes: INITRAMFS_BYTES,
    });
    for (const [name, channel] of [
      ['ok', 'stable'],
      ['failed', 'beta'],
      ['fallback', 'stable'],
    ] as const) {
      const dev = await makeSignedDevice(server, keys, { channel, health_checks: 'disk_writable' });
      devices[name] = dev;
    }
    // ok: updated to v1.1.0, rebooted, health-checked and committed; then checked again.
    await agent(devices.ok, ['apply', '--activate']);
    assert.equal(await devices.ok.reboot(), 'B');
    await agent(devices.ok, ['healthcheck', '--timeout', '0']);
    await agent(devices.ok, ['check']);
    // failed: the beta device is offered a stable release: CHANNEL_MISMATCH (exit 3).
    await agent(devices.failed, ['apply'], 3);
    // fallback: B never commits; after three tries GRUB boots A again.
    await agent(devices.fallback, ['apply', '--activate']);
    for (let i = 0; i < 4; i++) await devices.fallback.reboot();
    // The boot's health check (the DaemonSet runs it on every boot) records the
    // fallback; status only shows it (it writes nothing).
    await agent(devices.fallback, ['healthcheck', '--timeout', '0']);

    const targets: string[] = [];
    for (const name of ['ok', 'failed', 'fallback'] as const) {
      const { target, child } = await serveMetrics(devices[name]);
      listeners.push(child);
      targets.push(`      - targets: ['${target}']\n        labels: { device: ${name} }`);
    }
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'rule_files: [rules.yaml]',
      'scrape_configs:',
      '  - job_name: kubesolo-update',
      '    static_configs:',
      ...targets,
      '',
    ].join('\n');
    prom = await startPrometheus(config, { 'rules.yaml': await rulesWithoutFor() });
  });

  after(async () => {
    await prom?.stop();
    for (const child of listeners) child.kill('SIGTERM');
    await server?.close();
    await rm(releases, { recursive: true, force: true });
    for (const dev of Object.values(devices)) await dev.cleanup();
  });

  it('counts devices by running version', async () => {
    const byVersion = await eventually(
      'count by version',
      async () => byLabel(await prom.query('count by (version) (kubesolo_update_info)'), 'version'),
      (v) => Object.values(v).reduce((a, b) => a + b, 0) === 3,
    );
    assert.deepEqual(byVersion, { 'v1.0.0': 2, 'v1.1.0': 1 });
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
      (v) => v.success === 1 && v.failed === 1 && v.rolled_back === 1,
    );
    assert.deepEqual(byPhase, {
      idle: 0,
      checking: 0,
      downloading: 0,
      staged: 0,
      activated: 0,
      verifying: 0,
      success: 1,
      rolled_back: 1,
      failed: 1,
    });
    const phaseOf = Object.fromEntries(
      (await prom.query('kubesolo_update_phase == 1')).map((s) => [
        s.metric.device,
        s.metric.phase,
      ]),
    );
    assert.deepEqual(phaseOf, { ok: 'success', failed: 'failed', fallback: 'rolled_back' });
  });

  it('keeps each device to about 30 series (docs/fleet.md sizes the fleet with it)', async () => {
    const perDevice = byLabel(
      await prom.query(
        'count by (device) ({__name__=~"kubesolo_update_.*", job="kubesolo-update"})',
      ),
      'device',
    );
    // ok: all 24 single families, the anti-rollback floor its commit recorded, the hold,
    // the count of quarantined releases and its release's outcome; failed: one failure
    // reason, but never activated or applied, so no outcome; fallback: like ok, but no
    // commit, so no floor, and its release quarantined (one quarantined_info). (No
    // release here has a rollout: no bucket series.)
    assert.deepEqual(perDevice, { ok: 28, failed: 24, fallback: 28 });
  });

  it('fires the failure and rollback alerts for the right devices, with their reasons', async () => {
    const firing = await eventually(
      'firing alerts',
      async () =>
        (await prom.query('ALERTS{alertstate="firing"}'))
          .map((s) => `${s.metric.alertname} ${s.metric.device} ${s.metric.reason ?? '-'}`)
          .sort(),
      (v) => v.length >= 3,
    );
    assert.deepEqual(firing, [
      // The stable channel is split between v1.0.0 and v1.1.0: the median is between them.
      'KubesoloUpdateBehindFleet fallback -',
      'KubesoloUpdateFailed failed CHANNEL_MISMATCH',
      'KubesoloUpdateRolledBack fallback BOOT_FALLBACK',
    ]);
  });

  it('exports what the agent recorded: checks, offers, counters, apply cost', async () => {
    const q = async (expr: string) => byLabel(await prom.query(expr), 'device');
    assert.deepEqual(await q('kubesolo_update_rollbacks_total{reason="BOOT_FALLBACK"}'), {
      ok: 0,
      failed: 0,
      fallback: 1,
    });
    assert.deepEqual(await q('kubesolo_update_failures_total'), { failed: 1 });
    assert.deepEqual(await q('kubesolo_update_available_info{version="v1.1.0"}'), {
      ok: 1,
      failed: 1,
      fallback: 1,
    });
    // Checked within the test's lifetime, by apply (all) and by check (ok).
    const age = await q('time() - kubesolo_update_last_check_timestamp_seconds');
    assert.deepEqual(Object.keys(age).sort(), ['failed', 'fallback', 'ok']);
    for (const seconds of Object.values(age))
      assert.ok(seconds >= 0 && seconds < 600, String(seconds));
    assert.deepEqual(await q('kubesolo_update_last_apply_bytes'), {
      ok: KERNEL_BYTES + INITRAMFS_BYTES,
      fallback: KERNEL_BYTES + INITRAMFS_BYTES,
    });
    const seconds = await q('kubesolo_update_last_apply_duration_seconds');
    assert.ok(seconds.ok! > 0 && seconds.ok! < 60, JSON.stringify(seconds));
    assert.deepEqual(
      await q('kubesolo_update_available_version_number > kubesolo_update_version_number'),
      {
        failed: 10000100000,
        fallback: 10000100000,
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
    // Not a vacuous pass: this fleet gives every panel something to show, except the one
    // for devices stuck on trial (none is). Rates need two scrapes, hence eventually.
    for (const { panel, expr } of exprs) {
      if (panel === 'Stuck on trial') {
        assert.deepEqual(await prom.query(expr), [], panel);
        continue;
      }
      await eventually(
        `data for panel "${panel}" (${expr})`,
        () => prom.query(expr),
        (r) => r.length > 0,
      );
    }
  });
});
