/**
 * The fleet's failure ratio per release (issue 25, item 8), answered by a real Prometheus
 * with the shipped rules: six simulated devices update to v1.1.0 through the real agent;
 * five commit it, one fails its health check and rolls back. Each device's exposition is
 * what `kubesolo-update metrics` prints for it (the textfile-collector path), served on
 * loopback; Prometheus records the ratio (1 of 6) and fires KubesoloUpdateReleaseFailing
 * for v1.1.0 (more than 10 % of at least 5 devices), with `for` set to 0.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { EXPOSITION_CONTENT_TYPE } from '../../src/metrics/exposition.js';
import { runAgent } from '../helpers/cli.js';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  serveDir,
  type Device,
  type StaticServer,
} from '../helpers/device.js';
import {
  eventually,
  prometheusSkipReason,
  RULES_FILE,
  startPrometheus,
  type PrometheusServer,
} from './prometheus.js';

const keys = makeKeys();
const DEVICES = 6;

async function agent(dev: Device, args: string[], expectCode = 0): Promise<string> {
  const r = await runAgent([...args, '--root', dev.root]);
  assert.equal(r.code, expectCode, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe(
  'a release failing across the fleet, seen by a real Prometheus',
  { skip: prometheusSkipReason() },
  () => {
    let releases: string;
    let server: StaticServer;
    let exporter: Server;
    const devices: Device[] = [];
    const texts = new Map<string, string>();
    let prom: PrometheusServer;

    before(async () => {
      releases = await mkdtemp(join(tmpdir(), 'ks-release-failing-'));
      server = await serveDir(releases);
      await publishRelease(releases, { version: 'v1.1.0', keys });
      for (let i = 1; i <= DEVICES; i++) {
        const failing = i === DEVICES;
        const dev = await makeSignedDevice(server, keys, {
          // The last device's workload never answers: nothing listens on port 1.
          health_checks: failing ? 'disk_writable,probe_url' : 'disk_writable',
          ...(failing ? { healthcheck_url: 'http://127.0.0.1:1/', auto_rollback_after: '1' } : {}),
        });
        devices.push(dev);
        await agent(dev, ['apply', '--activate']);
        assert.equal(await dev.reboot(), 'B');
        await agent(dev, ['healthcheck', '--timeout', '0'], failing ? 5 : 0);
        texts.set(`/dev${i}`, await agent(dev, ['metrics']));
      }
      exporter = createServer((req, res) => {
        const text = texts.get(req.url ?? '');
        if (text === undefined) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE }).end(text);
      });
      await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
      const { port } = exporter.address() as AddressInfo;
      const rules = parse(await readFile(RULES_FILE, 'utf8')) as {
        groups: { rules: { for?: string }[] }[];
      };
      for (const g of rules.groups) for (const r of g.rules) if (r.for !== undefined) r.for = '0s';
      const targets = [...texts.keys()].map(
        (path) =>
          `      - targets: ['127.0.0.1:${port}']\n        labels: { device: ${path.slice(1)}, __metrics_path__: ${path} }`,
      );
      prom = await startPrometheus(
        [
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
        ].join('\n'),
        { 'rules.yaml': stringify(rules) },
      );
    });

    after(async () => {
      await prom?.stop();
      exporter?.closeAllConnections();
      exporter?.close();
      await server?.close();
      await rm(releases, { recursive: true, force: true });
      for (const dev of devices) await dev.cleanup();
    });

    it('records each release’s failure ratio among the devices that tried it', async () => {
      // Every device scraped and the rules evaluated over all of them.
      await eventually(
        'the devices that tried it',
        () => prom.query('kubesolo_update:release_devices_tried:count'),
        (r) => r.length === 1 && Number(r[0]!.value[1]) === DEVICES,
      );
      const ratio = await eventually(
        'the failure ratio',
        () => prom.query('kubesolo_update:release_failure_ratio'),
        (r) => r.length === 1 && Number(r[0]!.value[1]) === 1 / DEVICES,
      );
      assert.equal(ratio[0]!.metric.version, 'v1.1.0');
      const quarantined = await prom.query('sum(kubesolo_update_quarantined_releases)');
      assert.equal(Number(quarantined[0]!.value[1]), 1);
    });

    it('fires KubesoloUpdateReleaseFailing for that release, once for the fleet', async () => {
      const firing = await eventually(
        'the release alert',
        async () =>
          (
            await prom.query('ALERTS{alertname="KubesoloUpdateReleaseFailing",alertstate="firing"}')
          ).map((s) => `${s.metric.version} ${s.metric.severity}`),
        (v) => v.length > 0,
      );
      assert.deepEqual(firing, ['v1.1.0 critical']);
    });
  },
);
