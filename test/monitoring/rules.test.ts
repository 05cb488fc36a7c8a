/**
 * deploy/monitoring/ checked by the real tools: `promtool check rules`, `promtool test
 * rules` (unit tests for every alert), `promtool check config`; the Kubernetes manifests,
 * the dashboard and docs/fleet.md checked against the metrics the agent really exports.
 */
import { strict as assert } from 'node:assert';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { METRIC_NAMES } from '../../src/metrics/exposition.js';
import { runAgent } from '../helpers/cli.js';
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

  it('promtool check config accepts the device-local scrape + remote-write config', () => {
    const r = promtool(['check', 'config', join(MONITORING_DIR, 'prometheus-scrape.yaml')]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
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
}

async function manifests(): Promise<Map<string, K8sObject>> {
  const out = new Map<string, K8sObject>();
  for (const f of (await readdir(MONITORING_DIR)).filter((f) => f.endsWith('.yaml'))) {
    if (f.startsWith('kubesolo-update.rules') || f === 'prometheus-scrape.yaml') continue;
    // Kubernetes reads manifests with YAML 1.1 rules.
    for (const d of parseAllDocuments(await readFile(join(MONITORING_DIR, f), 'utf8'), {
      version: '1.1',
    })) {
      assert.deepEqual(d.errors, [], f);
      const o = d.toJS() as K8sObject;
      out.set(o.kind, o);
    }
  }
  return out;
}

describe('metrics endpoint manifests', () => {
  it('DaemonSet, Service and ServiceMonitor agree on labels and the port', async () => {
    const m = await manifests();
    const ds = m.get('DaemonSet')!;
    const svc = m.get('Service')!;
    const sm = m.get('ServiceMonitor')!;
    const kust = m.get('Kustomization') as unknown as { resources: string[] };
    assert.deepEqual(kust.resources, ['metrics-daemonset.yaml', 'service.yaml']);
    const pod = ds.spec.template as { metadata: { labels: Record<string, string> }; spec: any };
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) {
      assert.equal(pod.metadata.labels[k], v, k);
    }
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) {
      assert.equal(svc.metadata.labels?.[k], v, k);
    }
    const c = pod.spec.containers[0];
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 9101, protocol: 'TCP' }]);
    assert.equal(svc.spec.ports[0].targetPort, 'metrics');
    assert.equal(sm.spec.endpoints[0].port, 'metrics');
    assert.match(c.command[2], /exec kubesolo-update metrics --listen 0\.0\.0\.0:9101 "\$@"/);
    // Read-only host mounts; /dev is there for reading block slots' version files.
    for (const v of c.volumeMounts as { name: string; readOnly?: boolean }[]) {
      assert.equal(v.readOnly === true, v.name !== 'dev', v.name);
    }
    assert.notEqual(pod.spec.hostNetwork, true);
  });

  it('the flags the DaemonSet passes are the metrics command flags', async () => {
    const help = await runAgent(['metrics', '--help']);
    assert.equal(help.code, 0, help.stderr);
    for (const flag of ['--listen', '--root', '--log-level', '--channel']) {
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
});
