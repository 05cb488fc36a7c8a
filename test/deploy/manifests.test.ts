import { strict as assert } from 'node:assert';
import { readFile, readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runAgent } from '../helpers/cli.js';

const DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}
interface Container {
  name: string;
  command: string[];
  env?: { name: string; value: string }[];
  securityContext?: { privileged?: boolean };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes: { name: string; hostPath?: { path: string; type?: string } }[];
  hostNetwork?: boolean;
  hostPID?: boolean;
}

/** Kubernetes reads manifests with YAML 1.1 rules (sigs.k8s.io/yaml over go-yaml). */
async function load(): Promise<Map<string, Obj[]>> {
  const files = new Map<string, Obj[]>();
  for (const f of (await readdir(DIR)).filter((f) => f.endsWith('.yaml'))) {
    const docs = parseAllDocuments(await readFile(DIR + f, 'utf8'), { version: '1.1' });
    assert.ok(Array.isArray(docs), f);
    for (const d of docs) assert.deepEqual(d.errors, [], `${f}: ${String(d.errors[0]?.message)}`);
    files.set(
      f,
      docs.map((d) => d.toJS() as Obj),
    );
  }
  return files;
}

function podSpecs(all: Obj[]): { owner: string; spec: PodSpec }[] {
  const out: { owner: string; spec: PodSpec }[] = [];
  for (const o of all) {
    if (o.kind === 'CronJob') {
      const s = o.spec as { jobTemplate: { spec: { template: { spec: PodSpec } } } };
      out.push({ owner: `CronJob/${o.metadata.name}`, spec: s.jobTemplate.spec.template.spec });
    } else if (o.kind === 'Job' || o.kind === 'DaemonSet') {
      const s = o.spec as { template: { spec: PodSpec } };
      out.push({ owner: `${o.kind}/${o.metadata.name}`, spec: s.template.spec });
    }
  }
  return out;
}

/** Every container of a pod, init containers first (the order they run in). */
function allContainers(spec: PodSpec): Container[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

/** `kubesolo-update <command> --flags...` invocations in a container's shell script. */
function agentInvocations(script: string): { command: string; flags: string[] }[] {
  const out: { command: string; flags: string[] }[] = [];
  for (const line of script.split('\n')) {
    const m = /(?:^|\s|exec\s)kubesolo-update\s+([a-z][a-z-]*)(.*)$/.exec(line.trim());
    if (!m) continue;
    const flags = [...m[2]!.matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)].map((f) => f[1]!);
    out.push({ command: m[1]!, flags });
  }
  return out;
}

/** Host paths (docs/design.md §3.1) each agent command reads or writes, by command. */
const NEEDS: Record<string, string[]> = {
  check: [
    '/etc/kubesolo/update.conf',
    '/etc/kubesolo/update.pub',
    '/etc/localtime',
    '/var/lib/kubesolo/update/state.json',
    '/boot/grub/grubenv',
    '/proc/cmdline',
  ],
  apply: [
    '/etc/kubesolo/update.conf',
    '/etc/kubesolo/update.pub',
    '/etc/localtime',
    '/var/lib/kubesolo/update/state.json',
    '/var/lib/kubesolo/pki/admin/admin.kubeconfig',
    '/boot/grub/grubenv',
    '/proc/cmdline',
    '/dev/disk/by-label',
  ],
  healthcheck: [
    '/etc/kubesolo/update.conf',
    '/var/lib/kubesolo/update/state.json',
    '/var/lib/kubesolo/pki/admin/admin.kubeconfig',
    '/var/lib/kubesolo',
    '/boot/grub/grubenv',
    '/proc/cmdline',
    '/run/containerd/containerd.sock',
    // the rollback checks that the other (block) slot holds a bootable image
    '/dev/disk/by-label',
  ],
  metrics: [
    '/etc/kubesolo/update.conf',
    '/var/lib/kubesolo/update/state.json',
    '/boot/grub/grubenv',
    '/proc/cmdline',
    // the running slot's version file, on its partition with block slots
    '/dev/disk/by-label',
  ],
};

/** Commands that write state, the GRUB environment or a slot. */
const WRITERS = new Set(['check', 'apply', 'healthcheck']);

/** Host paths a pod may mount: what docs/design.md §3.1 names, nothing broader. */
const ALLOWED_HOST_PATHS = new Set([
  '/etc/kubesolo',
  '/var/lib/kubesolo',
  '/boot',
  '/proc/cmdline',
  '/proc/sys/kernel/random/boot_id',
  '/dev',
  '/run/containerd',
  '/etc/localtime',
]);

describe('deploy/kubernetes manifests', () => {
  it('parse (YAML 1.1, as kubectl reads them) into the expected objects, all in one namespace', async () => {
    const files = await load();
    const all = [...files.values()].flat().filter((o) => o.kind !== 'Kustomization');
    assert.deepEqual(all.map((o) => o.kind).sort(), [
      'ConfigMap',
      'CronJob',
      'DaemonSet',
      'Namespace',
    ]);
    for (const o of all) {
      assert.ok(o.apiVersion && o.metadata.name, `${o.kind} has apiVersion and name`);
      if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'kubesolo-update', o.kind);
    }
    const ns = all.find((o) => o.kind === 'Namespace')!;
    assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    // `kubectl apply -k` creates everything: no manifest is left for a hand step.
    const kust = files.get('kustomization.yaml')![0] as unknown as { resources: string[] };
    assert.deepEqual(
      [...kust.resources].sort(),
      [...files.keys()].filter((f) => f !== 'kustomization.yaml').sort(),
    );
  });

  it('the DaemonSet runs the health check once per boot, then serves metrics for Prometheus', async () => {
    const ds = [...(await load()).values()].flat().find((o) => o.kind === 'DaemonSet')!;
    const spec = ds.spec as {
      selector: { matchLabels: Record<string, string> };
      template: {
        metadata: { labels: Record<string, string>; annotations: Record<string, string> };
        spec: PodSpec & { tolerations: { operator: string }[] };
      };
    };
    const t = spec.template;
    for (const [k, v] of Object.entries(spec.selector.matchLabels))
      assert.equal(t.metadata.labels[k], v);
    // Init containers run again whenever the pod sandbox is recreated, as after a reboot.
    const [init, ...moreInit] = t.spec.initContainers ?? [];
    assert.equal(moreInit.length, 0);
    assert.deepEqual(
      agentInvocations(init!.command[2]!).map((c) => c.command),
      ['healthcheck'],
    );
    assert.match(init!.command[2]!, /--reboot/);
    // An unhealthy verdict must not keep the metrics from being served.
    assert.match(init!.command[2]!, /exit 0\s*$/);
    const [metrics] = t.spec.containers;
    const listen = /metrics .*--listen (\S+)/.exec(metrics!.command[2]!)?.[1];
    assert.equal(listen, '0.0.0.0:9101');
    assert.deepEqual(
      {
        scrape: t.metadata.annotations['prometheus.io/scrape'],
        port: t.metadata.annotations['prometheus.io/port'],
        path: t.metadata.annotations['prometheus.io/path'],
      },
      { scrape: 'true', port: '9101', path: '/metrics' },
    );
    assert.ok(
      t.spec.tolerations.some((x) => x.operator === 'Exists'),
      'runs on tainted nodes',
    );
  });

  it("the CronJob's schedule zone and the window's zone are both set", async () => {
    const all = [...(await load()).values()].flat();
    const cj = all.find((o) => o.kind === 'CronJob')!;
    const zone = (cj.spec as { timeZone?: string }).timeZone;
    assert.ok(zone !== undefined, 'spec.timeZone is set');
    // A zone Kubernetes (Go's time.LoadLocation) and the agent (Intl) both know.
    assert.doesNotThrow(() => new Intl.DateTimeFormat('en-US', { timeZone: zone }));
    const cm = all.find((o) => o.kind === 'ConfigMap')!;
    assert.ok(Object.keys(cm.data as object).includes('TIME_ZONE'));
    const script = podSpecs([cj])[0]!.spec.containers[0]!.command[2]!;
    assert.match(script, /--time-zone "\$TIME_ZONE"/);
  });

  it('the ConfigMap holds only strings (an unquoted true or 3600 would be rejected)', async () => {
    const cm = [...(await load()).values()].flat().find((o) => o.kind === 'ConfigMap')!;
    const data = cm.data as Record<string, unknown>;
    assert.ok(Object.keys(data).includes('UPDATE_SERVER'));
    for (const [k, v] of Object.entries(data)) assert.equal(typeof v, 'string', k);
  });

  it('the CronJob runs every 6 hours, one at a time, after a random delay', async () => {
    const cj = [...(await load()).values()].flat().find((o) => o.kind === 'CronJob')!;
    const spec = cj.spec as { schedule: string; concurrencyPolicy: string };
    assert.equal(spec.schedule, '0 */6 * * *');
    assert.equal(spec.concurrencyPolicy, 'Forbid');
    const script = podSpecs([cj])[0]!.spec.containers[0]!.command[2]!;
    assert.match(script, /od -An -N4 -tu4 \/dev\/urandom\) % splay/);
    assert.match(script, /sleep "\$delay"/);
    // The delay comes before the first contact with the server.
    assert.ok(script.indexOf('sleep "$delay"') < script.indexOf('kubesolo-update check'));
  });

  it("every container's command is a real agent command, with flags the agent has", async () => {
    const pods = podSpecs([...(await load()).values()].flat());
    const top = await runAgent(['--help']);
    assert.equal(top.code, 0);
    const seen = new Set<string>();
    for (const { owner, spec } of pods) {
      for (const c of allContainers(spec)) {
        assert.deepEqual(c.command.slice(0, 2), ['/bin/sh', '-c'], owner);
        const calls = agentInvocations(c.command[2]!);
        assert.ok(calls.length > 0, `${owner} runs the agent`);
        for (const call of calls) {
          seen.add(call.command);
          assert.match(
            top.stdout,
            new RegExp(`^  ${call.command} `, 'm'),
            `${owner}: ${call.command} is listed`,
          );
          const help = await runAgent([call.command, '--help']);
          assert.equal(help.code, 0, `${owner}: ${call.command} --help`);
          for (const flag of call.flags) {
            assert.match(
              help.stdout,
              new RegExp(`${flag}\\b`),
              `${owner}: ${call.command} has ${flag}`,
            );
          }
        }
      }
    }
    assert.deepEqual([...seen].sort(), ['apply', 'check', 'healthcheck', 'metrics']);
  });

  it('pods mount what the agent needs under --root, and nothing broader', async () => {
    for (const { owner, spec } of podSpecs([...(await load()).values()].flat())) {
      assert.equal(spec.hostNetwork, true, owner);
      assert.equal(spec.hostPID, true, owner);
      for (const c of allContainers(spec)) {
        assert.equal(c.securityContext?.privileged, true, owner);
        const root = c.env?.find((e) => e.name === 'KUBESOLO_ROOT')?.value;
        assert.equal(root, '/host', owner);
        // host path → where the agent sees it
        const mounted: { host: string; at: string; readOnly: boolean }[] = c.volumeMounts.map(
          (vm) => {
            const v = spec.volumes.find((v) => v.name === vm.name);
            assert.ok(v?.hostPath, `${owner}: ${vm.name} is a hostPath`);
            assert.ok(
              ALLOWED_HOST_PATHS.has(v.hostPath.path),
              `${owner}: ${v.hostPath.path} is allowed`,
            );
            return { host: v.hostPath.path, at: vm.mountPath, readOnly: vm.readOnly === true };
          },
        );
        assert.equal(
          new Set(mounted.map((m) => m.host)).size,
          mounted.length,
          `${owner}: no duplicates`,
        );
        for (const call of agentInvocations(c.command[2]!)) {
          for (const path of NEEDS[call.command] ?? []) {
            const hit = mounted.find((x) => path === x.host || path.startsWith(x.host + '/'));
            assert.ok(hit, `${owner}: ${call.command} needs ${path}`);
            // Everything, device nodes included, under /host: with --root the agent looks
            // up block devices only under <root>/dev (docs/operating.md "--root").
            const expectedAt: string = `${root}${hit.host}`;
            assert.equal(hit.at, expectedAt, `${owner}: ${hit.host} mounted at ${expectedAt}`);
          }
        }
        // Nothing the agent writes is mounted read-only (`metrics` only reads the GRUB
        // environment; reading state.json may move a corrupt one aside).
        const writes = agentInvocations(c.command[2]!).some((call) => WRITERS.has(call.command));
        for (const m of mounted) {
          const written = writes ? ['/var/lib/kubesolo', '/boot', '/dev'] : ['/var/lib/kubesolo'];
          if (written.includes(m.host)) assert.equal(m.readOnly, false, `${owner}: ${m.host}`);
          if (['/etc/localtime', '/etc/kubesolo', '/proc/cmdline'].includes(m.host))
            assert.equal(m.readOnly, true, `${owner}: ${m.host} read-only`);
        }
      }
    }
  });

  it('agentInvocations finds commands and flags in a script', () => {
    assert.deepEqual(
      agentInvocations(
        'x\n  kubesolo-update apply --activate "$@"\nexec kubesolo-update healthcheck --root /h --reboot',
      ),
      [
        { command: 'apply', flags: ['--activate'] },
        { command: 'healthcheck', flags: ['--root', '--reboot'] },
      ],
    );
  });
});
