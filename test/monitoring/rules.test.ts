/**
 * deploy/monitoring/ checked by the real tools: `promtool check rules`, `promtool test
 * rules` (unit tests for every alert), `promtool check config`; the Kubernetes manifests,
 * the dashboard and docs/fleet.md checked against the metrics the agent really exports.
 */
import { strict as assert } from 'node:assert';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { METRIC_NAMES, RENAMED_SERIES } from '../../src/metrics/exposition.js';
import { runAgent } from '../helpers/cli.js';
import { KUBERNETES_DIR, loadManifests } from '../helpers/manifests.js';
import { dashboardExpressions } from './dashboard.js';
import {
  DASHBOARD_FILE,
  MONITORING_DIR,
  prometheusSkipReason,
  promtool,
  RULES_FILE,
  RULES_TEST_FILE,
} from './prometheus.js';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}
interface RuleTest {
  name: string;
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
}

async function rules(): Promise<Rule[]> {
  const doc = parse(await readFile(RULES_FILE, 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

const skip = prometheusSkipReason();

describe('alerting and recording rules (promtool)', { skip }, () => {
  it('promtool check rules accepts every rule', async () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${(await rules()).length} rules found`));
  });

  it('promtool test rules: the unit tests pass', () => {
    const r = promtool(['test', 'rules', RULES_TEST_FILE]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('every alert has a unit test in which it fires and one in which it stays quiet', async () => {
    const tests = (parse(await readFile(RULES_TEST_FILE, 'utf8')) as { tests: RuleTest[] }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    const alerts = (await rules()).flatMap((r) => (r.alert ? [r.alert] : []));
    assert.ok(alerts.length >= 6);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert}: no firing case`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert}: no quiet case`,
      );
    }
  });

  it('every alert links its runbook (a docs/fleet.md section) and names the node, not the Service address', async () => {
    const doc = await readFile(
      fileURLToPath(new URL('../../docs/fleet.md', import.meta.url)),
      'utf8',
    );
    // The anchors GitHub and most renderers make of "### Heading": lowercased, punctuation dropped.
    const anchors = new Set(
      [...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const r of await rules()) {
      if (!r.alert) continue;
      const url = r.annotations?.runbook_url ?? '';
      const m = /^https:\/\/[^/]+\/docs\/fleet\.md#([a-z0-9-]+)$/.exec(url);
      assert.ok(m, `${r.alert}: runbook_url ${url}`);
      assert.equal(m[1], r.alert.toLowerCase(), r.alert);
      assert.ok(anchors.has(m[1]), `${r.alert}: docs/fleet.md has no section #${m[1]}`);
      // A device's alert names the node; an alert about a release (scope: release) its version.
      const names = r.labels?.scope === 'release' ? 'version' : 'node';
      assert.match(
        r.annotations!.summary!,
        new RegExp(`\\{\\{ \\$labels\\.${names} \\}\\}`),
        r.alert,
      );
      assert.doesNotMatch(JSON.stringify(r.annotations), /\$labels\.instance/, r.alert);
    }
  });

  it('the unit tests catch a broken rule (the failed alert stops excluding policy deferrals)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ks-rules-'));
    try {
      const text = await readFile(RULES_FILE, 'utf8');
      const broken = text.replace(
        'reason!~"OUTSIDE_MAINTENANCE_WINDOW|NODE_UPDATE_BLOCKED|ROLLOUT_NOT_OPEN|ROLLOUT_PAUSED|HELD|QUARANTINED"',
        'reason!=""',
      );
      assert.notEqual(broken, text);
      await writeFile(join(dir, 'kubesolo-update.rules.yaml'), broken);
      await copyFile(RULES_TEST_FILE, join(dir, 'kubesolo-update.rules.test.yaml'));
      const r = promtool(['test', 'rules', 'kubesolo-update.rules.test.yaml'], dir);
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /alertname: KubesoloUpdateFailed/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('promtool check config accepts the device-local scrape + remote-write config', async () => {
    // promtool checks that the token file exists: the Secret's path, moved to a temp dir.
    const dir = await mkdtemp(join(tmpdir(), 'ks-scrape-config-'));
    try {
      const text = await readFile(join(MONITORING_DIR, 'prometheus-scrape.yaml'), 'utf8');
      const moved = text.replace('/etc/kubesolo-update-metrics/token', join(dir, 'token'));
      assert.notEqual(moved, text);
      await writeFile(join(dir, 'token'), 'secret\n');
      await writeFile(join(dir, 'prometheus-scrape.yaml'), moved);
      const r = promtool(['check', 'config', join(dir, 'prometheus-scrape.yaml')]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Every kubesolo_update series a PromQL expression names. */
function seriesNames(expr: string): string[] {
  return [...expr.matchAll(/\bkubesolo_update[a-z_:]*/g)].map((m) => m[0]);
}

describe('dashboard and rules only use series that exist', () => {
  it('each name is an exported metric or a recording rule', async () => {
    const known = new Set<string>([
      ...Object.values(METRIC_NAMES),
      ...(await rules()).flatMap((r) => (r.record ? [r.record] : [])),
    ]);
    const exprs = [
      ...dashboardExpressions(JSON.parse(await readFile(DASHBOARD_FILE, 'utf8'))).map(
        (e) => e.expr,
      ),
      ...(await rules()).map((r) => r.expr),
    ];
    const unknown = exprs.flatMap(seriesNames).filter((n) => !known.has(n));
    assert.deepEqual(unknown, []);
    // And the check can fail:
    assert.deepEqual(seriesNames('kubesolo_update_phse == 1'), ['kubesolo_update_phse']);
  });

  it('every panel queries the dashboard datasource variable', async () => {
    const dash = JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')) as {
      panels: { id: number; type: string; datasource?: { uid: string } }[];
    };
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of dash.panels.filter((p) => p.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${datasource}', String(p.id));
    }
  });
});

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, any>;
  [k: string]: any;
}

interface PodContainer {
  name: string;
  ports?: unknown[];
  args: string[];
  env: { name: string; valueFrom: any }[];
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodVolume {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string };
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { containers: PodContainer[]; volumes: PodVolume[] };
}

/** deploy/monitoring and deploy/kubernetes objects by kind (one of each kind used here). */
async function manifests(): Promise<Map<string, K8sObject>> {
  const out = new Map<string, K8sObject>();
  for (const dir of [KUBERNETES_DIR, MONITORING_DIR]) {
    for (const [f, docs] of await loadManifests(dir)) {
      if (f.startsWith('kubesolo-update.rules') || f === 'prometheus-scrape.yaml') continue;
      for (const o of docs as unknown as K8sObject[]) {
        const key = o.kind === 'Kustomization' ? `Kustomization ${dir}` : o.kind;
        if (!out.has(key)) out.set(key, o);
      }
    }
  }
  return out;
}

describe('metrics endpoint manifests', () => {
  it('the node DaemonSet, Service, ServiceMonitor and NetworkPolicy agree on labels, port and token', async () => {
    const m = await manifests();
    const ds = m.get('DaemonSet')!;
    const svc = m.get('Service')!;
    const sm = m.get('ServiceMonitor')!;
    const np = m.get('NetworkPolicy')!;
    const kust = m.get(`Kustomization ${MONITORING_DIR}`) as unknown as {
      resources: string[];
      configMapGenerator: { name: string; files: string[] }[];
    };
    assert.deepEqual(kust.resources, [
      'service.yaml',
      'networkpolicy.yaml',
      'prometheus-agent.yaml',
    ]);
    const pod = ds.spec.template as PodTemplate;
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) {
      assert.equal(pod.metadata.labels[k], v, k);
    }
    for (const [k, v] of Object.entries(
      np.spec.podSelector.matchLabels as Record<string, string>,
    )) {
      assert.equal(pod.metadata.labels[k], v, k);
    }
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) {
      assert.equal(svc.metadata.labels?.[k], v, k);
    }
    const c = pod.spec.containers.find((x) => x.name === 'metrics')!;
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 8391, protocol: 'TCP' }]);
    assert.equal(svc.spec.ports[0].port, 8391);
    assert.equal(svc.spec.ports[0].targetPort, 'metrics');
    assert.deepEqual(np.spec.ingress[0].ports, [{ protocol: 'TCP', port: 8391 }]);
    const ep = sm.spec.endpoints[0];
    assert.equal(ep.port, 'metrics');
    // The ServiceMonitor sends the token the node agent checks, and names the node.
    const tokenVolume = pod.spec.volumes.find((v) => v.secret)!;
    assert.equal(ep.authorization.credentials.name, tokenVolume.secret!.secretName);
    assert.deepEqual(ep.relabelings, [
      { sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' },
    ]);
    // The device-local Prometheus agent: let in by the NetworkPolicy, holding the token
    // where its scrape config reads it, running the config kustomize makes of the file.
    const agent = m.get('Deployment')!;
    const agentPod = agent.spec.template as PodTemplate;
    for (const [k, v] of Object.entries(
      np.spec.ingress[0].from[0].podSelector.matchLabels as Record<string, string>,
    )) {
      assert.equal(agentPod.metadata.labels[k], v, k);
    }
    const scrape = parse(await readFile(join(MONITORING_DIR, 'prometheus-scrape.yaml'), 'utf8'));
    const credentials: string = scrape.scrape_configs[0].authorization.credentials_file;
    const prom = agentPod.spec.containers[0]!;
    const mountOf = (path: string) =>
      prom.volumeMounts.find((vm) => path.startsWith(vm.mountPath + '/'))!;
    const tokenMount = mountOf(credentials);
    const agentVolumes = agentPod.spec.volumes;
    assert.equal(
      agentVolumes.find((v) => v.name === tokenMount.name)?.secret?.secretName,
      tokenVolume.secret!.secretName,
    );
    const configFile = /--config\.file=(\S+)/.exec(prom.args.join(' '))![1]!;
    assert.equal(configFile.split('/').at(-1), 'prometheus-scrape.yaml');
    const configVolume = agentVolumes.find((v) => v.name === mountOf(configFile).name)!;
    assert.equal(configVolume.configMap?.name, kust.configMapGenerator[0]!.name);
    assert.deepEqual(kust.configMapGenerator[0]!.files, ['prometheus-scrape.yaml']);
    // The external labels come from the pod: the node from the downward API, the site
    // from the ConfigMap deploy/kubernetes ships.
    const env = Object.fromEntries(prom.env.map((e) => [e.name, e.valueFrom]));
    assert.deepEqual(env.NODE_NAME, { fieldRef: { fieldPath: 'spec.nodeName' } });
    assert.equal(env.SITE.configMapKeyRef.name, m.get('ConfigMap')!.metadata.name);
    assert.ok('SITE' in m.get('ConfigMap')!.data);
    assert.deepEqual(scrape.global.external_labels, { node: '${NODE_NAME}', site: '${SITE}' });
    assert.match(prom.args.join(' '), /--enable-feature=agent,expand-external-labels/);
  });

  it('the flags the DaemonSet passes are the metrics command flags', async () => {
    const help = await runAgent(['metrics', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of ['--listen', '--token-file', '--root', '--channel', '--bootloader']) {
      assert.ok(help.stdout.includes(flag), flag);
    }
  });
});

describe('docs/fleet.md', () => {
  const DOC = fileURLToPath(new URL('../../docs/fleet.md', import.meta.url));

  it('documents every metric with its type, and every alert', async () => {
    const doc = await readFile(DOC, 'utf8');
    for (const name of Object.values(METRIC_NAMES)) {
      const type = name.endsWith('_total') ? 'counter' : 'gauge';
      assert.match(doc, new RegExp(`\\| \`${name}(\\{[^\`]*\\})?\` \\| ${type} \\|`), name);
    }
    for (const r of await rules()) {
      if (r.alert) assert.match(doc, new RegExp(`### ${r.alert}\\b`), r.alert);
    }
  });

  it('has a migration row for every renamed series, and nothing shipped uses an old name', async () => {
    const doc = await readFile(DOC, 'utf8');
    const shipped = [
      await readFile(RULES_FILE, 'utf8'),
      await readFile(DASHBOARD_FILE, 'utf8'),
      await readFile(RULES_TEST_FILE, 'utf8'),
    ].join('\n');
    assert.ok(Object.keys(RENAMED_SERIES).length > 0);
    for (const [old, now] of Object.entries(RENAMED_SERIES)) {
      assert.match(doc, new RegExp(`^\\| \`${old}\`.*\\| \`${now}\``, 'm'), old);
      assert.ok(!shipped.includes(old), `${old} is still used`);
    }
  });
});
