/**
 * The fleet's failure ratio per release (issue 25, item 8), answered by a real Prometheus
 * with the shipped rules: six simulated devices update to v1.1.0 through the real agent;
 * five commit it, one fails its health check and rolls back. Each device's exposition is
 * what `kubesolo-update metrics` prints for it (the textfile-collector path), served on
 * loopback; Prometheus records the ratio (1 of 6) and fires KubesoloUpdateReleaseFailing
 * for v1.1.0 (more than 10 % of at least 5 devices), with `for` set to 0.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EXPOSITION_CONTENT_TYPE } from '../../src/metrics/exposition.js';
import {
  eventually,
  prometheusSkipReason,
  startWithShippedRules,
  type PrometheusServer,
} from './prometheus.js';
import { agentOn, useFleet } from './fleet.js';

const DEVICES = 6;

describe(
  'a release failing across the fleet, seen by a real Prometheus',
  { skip: prometheusSkipReason() },
  () => {
    const fleet = useFleet({ version: 'v1.1.0' });
    let exporter: Server;
    const texts = new Map<string, string>();
    let prom: PrometheusServer;

    before(async () => {
      for (let i = 1; i <= DEVICES; i++) {
        const failing = i === DEVICES;
        const dev = await fleet.device({
          // The last device's workload never answers: nothing listens on port 1.
          health_checks: failing ? 'disk_writable,probe_url' : 'disk_writable',
          ...(failing ? { healthcheck_url: 'http://127.0.0.1:1/', auto_rollback_after: '1' } : {}),
        });
        await agentOn(dev, ['apply', '--activate']);
        assert.equal(await dev.reboot(), 'B');
        await agentOn(dev, ['healthcheck', '--timeout', '0'], failing ? 5 : 0);
        texts.set(`/dev${i}`, await agentOn(dev, ['metrics']));
      }
      exporter = createServer((req, res) => {
        const text = texts.get(req.url ?? '');
        if (text === undefined) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE }).end(text);
      });
      await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r));
      const { port } = exporter.address() as AddressInfo;
      const targets = [...texts.keys()].map(
        (path) =>
          `      - targets: ['127.0.0.1:${port}']\n        labels: { device: ${path.slice(1)}, __metrics_path__: ${path} }`,
      );
      prom = await startWithShippedRules(targets);
    });

    after(async () => {
      await prom?.stop();
      exporter?.closeAllConnections();
      exporter?.close();
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
