/**
 * deploy/kubernetes as kubectl reads it (YAML 1.1): every object, the least privilege
 * it grants (test/kube/in-cluster.test.ts runs the client against exactly these
 * grants), what each container mounts and may do, and that every agent command and
 * flag in the containers' scripts exists.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import { KUBERNETES_DIR, MONITORING_DIR, loadManifests, type Obj } from '../helpers/manifests.js';

interface Container {
  name: string;
  image: string;
  command: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  securityContext?: {
    privileged?: boolean;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  ports?: { name: string; containerPort: number }[];
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  secret?: { secretName: string };
  projected?: { sources: Record<string, unknown>[] };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes: Volume[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
}

const load = () => loadManifests(KUBERNETES_DIR);
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

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

/** What `check` reads and writes; `apply` needs the same and the slots. */
const CHECK_NEEDS = [
  '/etc/kubesolo/update.conf',
  '/etc/kubesolo/update.pub',
  '/etc/localtime',
  '/var/lib/kubesolo/update/state.json',
  '/boot/grub/grubenv',
  '/proc/cmdline',
];

/** Host paths (docs/design.md §3.1) each agent command reads or writes, by command. */
const NEEDS: Record<string, string[]> = {
  check: CHECK_NEEDS,
  apply: [...CHECK_NEEDS, '/dev/disk/by-label'],
  healthcheck: [
    '/etc/kubesolo/update.conf',
    '/var/lib/kubesolo/update/state.json',
    // disk_writable writes in the state directory
    '/var/lib/kubesolo/update',
    '/boot/grub/grubenv',
    '/proc/cmdline',
    '/run/containerd/containerd.sock',
    // the rollback checks that the other (block) slot holds a bootable image
    '/dev/disk/by-label',
  ],
  metrics: [
    '/etc/kubesolo/update.conf',
    '/var/lib/kubesolo/update/state.json',
    // this boot's running version, recorded by the health check container
    '/var/lib/kubesolo/update/running-version.json',
    '/boot/grub/grubenv',
    '/proc/cmdline',
    '/proc/sys/kernel/random/boot_id',
  ],
};

/** Commands that write state, the boot environment or a slot. */
const WRITERS = new Set(['check', 'apply', 'healthcheck']);
/** Commands that call the Kubernetes API (health checks, the node block label). */
const API_CALLERS = new Set(['check', 'apply', 'healthcheck']);

/**
 * Host paths a pod may mount: what docs/design.md §3.1 names, nothing broader. Of
 * /var/lib/kubesolo only the update state directory: pki/admin holds the cluster's
 * admin kubeconfig.
 */
const ALLOWED_HOST_PATHS = new Set([
  '/etc/kubesolo',
  '/var/lib/kubesolo/update',
  '/boot',
  '/proc/cmdline',
  '/proc/sys/kernel/random/boot_id',
  '/dev',
  '/run/containerd',
  '/etc/localtime',
]);

describe('deploy/kubernetes manifests', () => {
  it('parse (YAML 1.1, as kubectl reads them) into the expected objects and namespaces', async () => {
    const files = await load();
    const all = [...files.values()].flat().filter((o) => o.kind !== 'Kustomization');
    assert.deepEqual(
      all.map((o) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`).sort(),
      [
        'ClusterRole -/kubesolo-update-node-reader',
        'ClusterRoleBinding -/kubesolo-update-node-reader',
        'ConfigMap kubesolo-update/kubesolo-update',
        'CronJob kubesolo-update/kubesolo-update',
        'DaemonSet kubesolo-update/kubesolo-update',
        'Namespace -/kubesolo-update',
        'Role kube-system/kubesolo-update-pod-reader',
        'RoleBinding kube-system/kubesolo-update-pod-reader',
        'Secret kubesolo-update/kubesolo-update-metrics-token',
        'ServiceAccount kubesolo-update/kubesolo-update',
        'ServiceAccount kubesolo-update/kubesolo-update-metrics',
      ],
    );
    for (const o of all)
      assert.ok(o.apiVersion && o.metadata.name, `${o.kind} has apiVersion and name`);
    const ns = all.find((o) => o.kind === 'Namespace')!;
    assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
    // `kubectl apply -k` creates everything: no manifest is left for a hand step.
    const kust = files.get('kustomization.yaml')![0] as unknown as { resources: string[] };
    assert.deepEqual(
      [...kust.resources].sort(),
      [...files.keys()].filter((f) => f !== 'kustomization.yaml').sort(),
    );
    // The metrics token is made by the cluster for an account that is bound to no role.
    const secret = all.find((o) => o.kind === 'Secret')!;
    assert.equal(
      (secret as unknown as { type: string }).type,
      'kubernetes.io/service-account-token',
    );
    const tokenAccount = secret.metadata.annotations?.['kubernetes.io/service-account.name'];
    assert.equal(tokenAccount, 'kubesolo-update-metrics');
    const bound = all.flatMap((o) =>
      ((o as unknown as { subjects?: { name: string }[] }).subjects ?? []).map((x) => x.name),
    );
    assert.deepEqual([...new Set(bound)], ['kubesolo-update']);
  });

  it('one node DaemonSet for both jobs: health check once per boot, metrics for one scrape path', async () => {
    const everything = [
      ...(await load()).values(),
      ...(await loadManifests(MONITORING_DIR)).values(),
    ].flat();
    // deploy/monitoring adds no second DaemonSet: each device is scraped once.
    const daemonSets = everything.filter((o) => o.kind === 'DaemonSet');
    assert.equal(daemonSets.length, 1);
    const ds = daemonSets[0]!;
    const spec = ds.spec as {
      selector: { matchLabels: Record<string, string> };
      template: {
        metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
        spec: PodSpec & { tolerations: { operator: string }[] };
      };
    };
    const t = spec.template;
    for (const [k, v] of Object.entries(spec.selector.matchLabels))
      assert.equal(t.metadata.labels[k], v);
    // No prometheus.io annotations: the Service (deploy/monitoring) is the one way in.
    assert.equal(t.metadata.annotations, undefined);
    assert.equal(t.spec.priorityClassName, 'system-node-critical');
    // Neither the host's network nor its processes.
    assert.equal(t.spec.hostNetwork ?? false, false);
    assert.equal(t.spec.hostPID ?? false, false);
    // Init containers run again whenever the pod sandbox is recreated, as after a reboot.
    const [init, ...moreInit] = t.spec.initContainers ?? [];
    assert.equal(moreInit.length, 0);
    const initScript = init!.command[2]!;
    assert.deepEqual(
      agentInvocations(initScript).map((c) => c.command),
      ['healthcheck', 'metrics'],
    );
    assert.match(initScript, /healthcheck --reboot --node-name "\$KUBESOLO_NODE_NAME"/);
    const nodeName = init!.env?.find((e) => e.name === 'KUBESOLO_NODE_NAME');
    assert.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
    // Without the host's PID namespace the rollback reboot goes through the kernel.
    assert.equal(
      init!.env?.find((e) => e.name === 'KUBESOLO_UPDATE_REBOOT_COMMAND')?.value,
      'sync && echo b > /proc/sysrq-trigger',
    );
    // An unhealthy verdict must not keep the metrics from being served.
    assert.match(initScript, /exit 0\s*$/);
    const [metrics, ...more] = t.spec.containers;
    assert.equal(more.length, 0);
    const script = metrics!.command[2]!;
    const listen = /metrics .*--listen (\S+)/.exec(script)?.[1];
    assert.equal(listen, '0.0.0.0:8391');
    // Not the port of a registered exporter: the allocated range is 9100-9999, and 9101
    // is haproxy_exporter's.
    const port = metrics!.ports![0]!.containerPort;
    assert.equal(port, 8391);
    assert.ok(port < 9100 || port > 9999);
    // Only scrapes with the Secret's token get an answer.
    const tokenFile = /--token-file (\S+)/.exec(script)?.[1];
    const tokenMount = metrics!.volumeMounts.find((m) => tokenFile?.startsWith(m.mountPath + '/'));
    const tokenVolume = t.spec.volumes.find((v) => v.name === tokenMount?.name);
    assert.equal(tokenVolume?.secret?.secretName, 'kubesolo-update-metrics-token');
    assert.ok(
      t.spec.tolerations.some((x) => x.operator === 'Exists'),
      'runs on tainted nodes',
    );
  });

  it('the metrics container runs unprivileged, read-only, without API token, devices or write access', async () => {
    const ds = [...(await load()).values()].flat().find((o) => o.kind === 'DaemonSet')!;
    const pod = (ds.spec as { template: { spec: PodSpec } }).template.spec;
    const metrics = pod.containers.find((c) => c.name === 'metrics')!;
    assert.deepEqual(metrics.securityContext, {
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    for (const m of metrics.volumeMounts) assert.equal(m.readOnly, true, m.mountPath);
    const mounted = metrics.volumeMounts.map((m) => m.mountPath);
    assert.ok(!mounted.includes('/dev') && !mounted.includes('/host/dev'));
    assert.ok(!mounted.includes(SA_DIR));
  });

  it('the pods use the least-privilege ServiceAccount, its token only where the API is called', async () => {
    for (const { owner, spec } of podSpecs([...(await load()).values()].flat())) {
      assert.equal(spec.serviceAccountName, 'kubesolo-update', owner);
      // Not in every container: those that call the API mount the projected volume.
      assert.equal(spec.automountServiceAccountToken, false, owner);
      const access = spec.volumes.find((v) => v.name === 'kube-api-access');
      const sources = access?.projected?.sources.map((x) => Object.keys(x)[0]).sort();
      assert.deepEqual(sources, ['configMap', 'downwardAPI', 'serviceAccountToken'], owner);
      for (const c of allContainers(spec)) {
        const calls = agentInvocations(c.command[2]!).some((x) => API_CALLERS.has(x.command));
        const mount = c.volumeMounts.find((m) => m.name === 'kube-api-access');
        if (calls) {
          assert.equal(mount?.mountPath, SA_DIR, `${owner}/${c.name}`);
          assert.equal(mount?.readOnly, true, `${owner}/${c.name}`);
        } else {
          assert.equal(mount, undefined, `${owner}/${c.name} has no token`);
        }
      }
    }
  });

  it('every pod runs the image of the kustomization, under a qualified name', async () => {
    const files = await load();
    const kust = files.get('kustomization.yaml')![0] as unknown as {
      images: { name: string; newName: string; newTag?: string; digest?: string }[];
    };
    const names = new Set(kust.images.map((i) => i.name));
    for (const { owner, spec } of podSpecs([...files.values()].flat())) {
      for (const c of allContainers(spec))
        assert.ok(names.has(c.image), `${owner}/${c.name}: ${c.image}`);
    }
    const [image] = kust.images;
    // registry host (a dot or a port), then a path: never resolved against a default registry.
    assert.match(image!.newName, /^[a-z0-9.-]+(\.[a-z0-9-]+|:\d+)\/[a-z0-9._/-]+$/);
    assert.ok(image!.digest === undefined || /^sha256:[0-9a-f]{64}$/.test(image!.digest));
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
      for (const c of allContainers(spec)) {
        const writes = agentInvocations(c.command[2]!).some((call) => WRITERS.has(call.command));
        // Writers change the boot environment and slots: privileged. Readers are not.
        assert.equal(c.securityContext?.privileged, writes, `${owner}/${c.name}`);
        const root = c.env?.find((e) => e.name === 'KUBESOLO_ROOT')?.value;
        assert.equal(root, '/host', owner);
        // host path → where the agent sees it
        const mounted: { host: string; at: string; readOnly: boolean }[] = c.volumeMounts
          .filter((vm) => spec.volumes.find((v) => v.name === vm.name)?.hostPath)
          .map((vm) => {
            const v = spec.volumes.find((v) => v.name === vm.name)!;
            assert.ok(
              ALLOWED_HOST_PATHS.has(v.hostPath!.path),
              `${owner}: ${v.hostPath!.path} is allowed`,
            );
            return { host: v.hostPath!.path, at: vm.mountPath, readOnly: vm.readOnly === true };
          });
        // The admin kubeconfig is not reachable through any mount.
        for (const m of mounted) {
          assert.ok(
            !'/var/lib/kubesolo/pki/admin/admin.kubeconfig'.startsWith(m.host + '/'),
            `${owner}: ${m.host} exposes pki/admin`,
          );
        }
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
        // Nothing the agent writes is mounted read-only; a reader gets nothing writable.
        for (const m of mounted) {
          if (!writes) assert.equal(m.readOnly, true, `${owner}/${c.name}: ${m.host} read-only`);
          if (writes && ['/var/lib/kubesolo/update', '/boot', '/dev'].includes(m.host))
            assert.equal(m.readOnly, false, `${owner}: ${m.host}`);
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
