/**
 * Both documented ways the fleet's Prometheus gets a device's series, run with the real
 * prometheus against the real `metrics --listen --token-file` (the built bundle):
 *
 * - central, through the ServiceMonitor: the scrape job the Prometheus Operator makes of
 *   deploy/monitoring/servicemonitor.yaml (bearer token from the Secret, the node from
 *   `__meta_kubernetes_pod_node_name`), with a static target carrying the meta label the
 *   Kubernetes discovery would set;
 * - device-local: deploy/monitoring/prometheus-scrape.yaml run by prometheus in agent
 *   mode with the flags of prometheus-agent.yaml and the pod's NODE_NAME and SITE,
 *   remote-writing into the central one (`--web.enable-remote-write-receiver`).
 *
 * Only the addresses (loopback instead of the Service and the central store), the
 * Secret's path and the scrape interval (1 s instead of 60 s) are changed. A job
 * without the token gets nothing (up == 0).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { makeDevice, type Device } from '../helpers/device.js';
import { loadManifests, MONITORING_DIR } from '../helpers/manifests.js';
import { startMetricsListener, type MetricsListener } from '../helpers/metrics-listener.js';
import {
  eventually,
  prometheusSkipReason,
  startPrometheus,
  type PrometheusServer,
} from './prometheus.js';

const TOKEN = 'scrape-token-4f1d2c9e8b7a';
/** Two Prometheus servers, one remote-writing to the other: more to settle than one. */
const WITHIN_MS = 45_000;

interface Endpoint {
  path: string;
  authorization: { type: string; credentials: { name: string; key: string } };
  relabelings: { sourceLabels: string[]; targetLabel: string }[];
}

/** The scrape job the Prometheus Operator generates for the ServiceMonitor's endpoint. */
function serviceMonitorJob(
  sm: { metadata: { name: string; namespace: string }; spec: { endpoints: Endpoint[] } },
  target: string,
  tokenFile: string,
  podNode: string,
): Record<string, unknown> {
  const ep = sm.spec.endpoints[0]!;
  return {
    job_name: `serviceMonitor/${sm.metadata.namespace}/${sm.metadata.name}/0`,
    metrics_path: ep.path,
    authorization: { type: ep.authorization.type, credentials_file: tokenFile },
    static_configs: [{ targets: [target], labels: { __meta_kubernetes_pod_node_name: podNode } }],
    relabel_configs: ep.relabelings.map((r) => ({
      source_labels: r.sourceLabels,
      target_label: r.targetLabel,
    })),
  };
}

describe('both scrape paths with the real prometheus', { skip: prometheusSkipReason() }, () => {
  let dev: Device;
  let listener: MetricsListener;
  let central: PrometheusServer;
  let deviceAgent: PrometheusServer;

  before(async () => {
    dev = await makeDevice({ config: { channel: 'stable' } });
    const grubenv = dev.path('boot/grub/grubenv');
    execFileSync('grub-editenv', [grubenv, 'create']);
    execFileSync('grub-editenv', [
      grubenv,
      'set',
      'active_slot=A',
      'boot_counter=3',
      'boot_success=1',
    ]);
    const tokenFile = dev.path('metrics-token');
    await writeFile(tokenFile, TOKEN + '\n');
    listener = await startMetricsListener(dev.root, ['--token-file', tokenFile]);
    const target = listener.target;

    const objects = [...(await loadManifests(MONITORING_DIR)).values()].flat();
    const sm = objects.find((o) => o.kind === 'ServiceMonitor') as never;
    central = await startPrometheus(
      stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s' },
        scrape_configs: [
          serviceMonitorJob(sm, target, join(dev.root, 'metrics-token'), 'edge-central'),
          // Someone on the pod network without the token.
          { job_name: 'stranger', static_configs: [{ targets: [target] }] },
        ],
      }),
      {},
      { flags: ['--web.enable-remote-write-receiver'] },
    );

    // The device-local agent: the shipped config and the Deployment's flags.
    const scrape = parse(await readFile(join(MONITORING_DIR, 'prometheus-scrape.yaml'), 'utf8'));
    scrape.global.scrape_interval = '1s';
    scrape.scrape_configs[0].static_configs[0].targets = [target];
    scrape.scrape_configs[0].scrape_timeout = '1s';
    scrape.scrape_configs[0].authorization.credentials_file = tokenFile;
    scrape.remote_write[0].url = `${central.url}/api/v1/write`;
    scrape.remote_write[0].queue_config.batch_send_deadline = '1s';
    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    const flags = deployment.spec.template.spec.containers[0]!.args.filter(
      (a) => !a.startsWith('--config.file=') && !a.startsWith('--storage.agent.path='),
    );
    deviceAgent = await startPrometheus(
      stringify(scrape),
      {},
      {
        flags,
        env: { NODE_NAME: 'edge-7', SITE: 'plant-3' },
      },
    );
  });

  after(async () => {
    await deviceAgent?.stop();
    await central?.stop();
    listener?.child.kill('SIGTERM');
    await dev?.cleanup();
  });

  it('central (ServiceMonitor): scraped with the token, the node named from the pod', async () => {
    const up = await eventually(
      'the ServiceMonitor job is up',
      () => central.query('up{job="serviceMonitor/kubesolo-update/kubesolo-update/0"}'),
      (r) => r.length === 1 && r[0]!.value[1] === '1',
      WITHIN_MS,
    );
    assert.equal(up[0]!.metric.node, 'edge-central');
    const info = await central.query(
      'kubesolo_update_info{job="serviceMonitor/kubesolo-update/kubesolo-update/0"}',
    );
    assert.deepEqual(
      info.map((s) => [s.metric.node, s.metric.channel, s.metric.version]),
      [['edge-central', 'stable', 'v1.0.0']],
    );
  });

  it('without the token a scrape gets nothing: up == 0', async () => {
    await eventually(
      'the stranger job has scraped',
      () => central.query('up{job="stranger"}'),
      (r) => r.length === 1 && r[0]!.value[1] === '0',
      WITHIN_MS,
    );
    assert.deepEqual(await central.query('kubesolo_update_build_info{job="stranger"}'), []);
  });

  it('device-local agent: remote-written with node and site external labels', async () => {
    const info = await eventually(
      'the remote-written series',
      () => central.query('kubesolo_update_build_info{job="kubesolo-update"}'),
      (r) => r.length === 1,
      WITHIN_MS,
    );
    assert.equal(info[0]!.metric.node, 'edge-7');
    assert.equal(info[0]!.metric.site, 'plant-3');
    const up = await central.query('up{job="kubesolo-update", node="edge-7"}');
    assert.deepEqual(
      up.map((s) => s.value[1]),
      ['1'],
    );
    // Only the update series leave the device (write_relabel_configs).
    const names = await central.query('count by (__name__) ({job="kubesolo-update"})');
    for (const s of names) assert.match(s.metric.__name__!, /^(kubesolo_update_.*|up|scrape_.*)$/);
  });
});
