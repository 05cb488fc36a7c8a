/**
 * Runs the shell scripts of the CronJob and the DaemonSet's health check, exactly as written in the
 * manifests, with /bin/sh against the real agent bundle on a simulated device (a
 * --root with dir slots, served by a loopback server). Only what the cluster would
 * provide is substituted: KUBESOLO_ROOT (the temp root instead of /host), the
 * ConfigMap's server URL, and the reboot command (a file is written instead).
 */
import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { readGrubEnvFile } from '../../src/bootenv/grubenv.js';
import { generateKeyPair } from '../../src/release/keys.js';
import { publishRelease } from '../../src/release/publish.js';
import { createStaticServer, listen } from '../../src/release/serve.js';
import { DEVICE_PATHS, at, buildImages, createDevice, reboot } from '../../scripts/demo/device.js';
import { AGENT_BIN } from '../helpers/cli.js';
import { assertNamesCode } from '../helpers/code-assert.js';
import { runMerged } from '../helpers/run-merged.js';
import { silentLogger } from '../../src/log.js';

const DEPLOY = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));

interface Container {
  command: string[];
  env?: { name: string; value: string }[];
}

async function manifest(file: string): Promise<Record<string, unknown>[]> {
  return parseAllDocuments(await readFile(DEPLOY + file, 'utf8'), { version: '1.1' }).map(
    (d) => d.toJS() as Record<string, unknown>,
  );
}

let dir: string;
let bin: string;
let server: Server;
let base: string;
const key = generateKeyPair();
let cronScript: string;
let cronEnv: Record<string, string>;
let healthScript: string;
let healthEnv: Record<string, string>;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-deploy-run-'));
  // `kubesolo-update` on PATH, as in the image: the real bundle.
  bin = join(dir, 'bin');
  await mkdir(bin);
  await symlink(AGENT_BIN, join(bin, 'kubesolo-update'));
  const build = await buildImages(join(dir, 'build'), 100_000, 400_000);
  await publishRelease({
    key: key.privateKey,
    version: 'v2.0.0',
    imagePaths: build,
    outDir: join(dir, 'site'),
    channel: 'stable',
  });
  server = await createStaticServer(join(dir, 'site'), { log: silentLogger });
  base = await listen(server, { host: '127.0.0.1', port: 0 });

  const [cj] = await manifest('cronjob.yaml');
  const cron = (
    cj as { spec: { jobTemplate: { spec: { template: { spec: { containers: Container[] } } } } } }
  ).spec.jobTemplate.spec.template.spec.containers[0]!;
  cronScript = cron.command[2]!;
  const cm = (await manifest('configmap.yaml'))[0] as { data: Record<string, string> };
  cronEnv = { ...cm.data, ...Object.fromEntries((cron.env ?? []).map((e) => [e.name, e.value])) };
  const [ds] = await manifest('daemonset.yaml');
  const health = (ds as { spec: { template: { spec: { initContainers: Container[] } } } }).spec
    .template.spec.initContainers[0]!;
  healthScript = health.command[2]!;
  healthEnv = Object.fromEntries((health.env ?? []).map((e) => [e.name, e.value]));
});
after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function device(extraConf = ''): Promise<string> {
  const root = join(dir, `device${++n}`);
  await createDevice(root, 'v1.0.0');
  await writeFile(at(root, '/etc/kubesolo/update.pub'), key.publicKeyHex + '\n');
  await writeFile(
    at(root, DEVICE_PATHS.config),
    [
      'pubkey=/etc/kubesolo/update.pub',
      'slot_backend=dir',
      `slot_a_dir=${DEVICE_PATHS.slotA}`,
      `slot_b_dir=${DEVICE_PATHS.slotB}`,
      `grubenv=${DEVICE_PATHS.grubenv}`,
      'health_checks=disk_writable',
      'healthcheck_timeout=2',
      extraConf,
    ].join('\n'),
  );
  return root;
}

function sh(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  return runMerged('/bin/sh', ['-c', script], {
    env: { PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, ...env },
    timeoutMs: 60_000,
  });
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );
const rebootCmd = 'echo reboot > "$KUBESOLO_ROOT/rebooted"';

describe('the CronJob script, run by sh against the real agent', () => {
  it("waits, checks, applies, activates and reboots; the DaemonSet's health check commits", async () => {
    const root = await device();
    const r = await sh(cronScript, {
      ...cronEnv,
      KUBESOLO_ROOT: root,
      KUBESOLO_UPDATE_REBOOT_COMMAND: rebootCmd,
      UPDATE_SERVER: base + 'latest.json',
      SPLAY_SECONDS: '2',
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /waiting [01]s before contacting the update server/);
    const env = (await readGrubEnvFile(at(root, DEVICE_PATHS.grubenv)))!;
    assert.equal(env.get('active_slot'), 'B');
    assert.equal(env.get('boot_success'), '0');
    assert.equal((await readFile(join(root, 'slots', 'B', 'version'), 'utf8')).trim(), 'v2.0.0');
    const state = JSON.parse(await readFile(at(root, DEVICE_PATHS.state), 'utf8')) as {
      phase: string;
    };
    assert.equal(state.phase, 'activated');
    assert.ok(await exists(join(root, 'rebooted')), 'the reboot command ran');

    // Then the DaemonSet's health check after the (simulated) reboot commits slot B.
    const boot = await reboot(root);
    assert.equal(boot.bootedSlot, 'B');
    const h = await sh(healthScript, {
      ...healthEnv,
      KUBESOLO_ROOT: root,
      KUBESOLO_UPDATE_REBOOT_COMMAND: rebootCmd,
    });
    assert.equal(h.code, 0, h.out);
    const after = (await readGrubEnvFile(at(root, DEVICE_PATHS.grubenv)))!;
    assert.equal(after.get('boot_success'), '1');
    const s2 = JSON.parse(await readFile(at(root, DEVICE_PATHS.state), 'utf8')) as {
      phase: string;
    };
    assert.equal(s2.phase, 'success');
    // Its second step recorded this boot's running version for the unprivileged
    // metrics container (which cannot read a block slot itself).
    const record = JSON.parse(
      await readFile(join(dirname(at(root, DEVICE_PATHS.state)), 'running-version.json'), 'utf8'),
    ) as { slot: string; version: string };
    assert.deepEqual([record.slot, record.version], ['B', 'v2.0.0']);
  });

  it('outside the maintenance window the Job stages but neither activates nor reboots; the next run in the window does', async () => {
    const root = await device();
    const now = new Date();
    const hh = (h: number) => String((now.getHours() + h + 24) % 24).padStart(2, '0');
    const run = (window: string) =>
      sh(cronScript, {
        ...cronEnv,
        KUBESOLO_ROOT: root,
        KUBESOLO_UPDATE_REBOOT_COMMAND: rebootCmd,
        UPDATE_SERVER: base + 'latest.json',
        SPLAY_SECONDS: '0',
        MAINTENANCE_WINDOW: window,
      });
    const outside = await run(`${hh(2)}:00-${hh(3)}:00`);
    assert.equal(outside.code, 0, outside.out);
    assertNamesCode(outside.out, 'ACTIVATION_DEFERRED');
    assert.match(outside.out, /refused by a gate; the next run tries again/);
    assert.doesNotMatch(outside.out, /waiting \d+s before contacting/);
    assert.equal((await readGrubEnvFile(at(root, DEVICE_PATHS.grubenv)))!.get('active_slot'), 'A');
    assert.equal(
      (await readFile(at(root, `${DEVICE_PATHS.slotB}/version`), 'utf8')).trim(),
      'v2.0.0',
    );
    assert.equal(await exists(join(root, 'rebooted')), false);
    // Inside the window (with more than commit_deadline of it left) the next run
    // activates what is staged, after fetching the metadata again, and reboots.
    const inside = await run(`${hh(-1)}:00-${hh(2)}:00`);
    assert.equal(inside.code, 0, inside.out);
    assertNamesCode(inside.out, 'ALREADY_STAGED');
    assert.equal((await readGrubEnvFile(at(root, DEVICE_PATHS.grubenv)))!.get('active_slot'), 'B');
    assert.ok(await exists(join(root, 'rebooted')), 'the reboot command ran');
  });

  it("a Job run by hand as docs/kubernetes.md says (`kubectl set env SPLAY_SECONDS=0`) starts at once, the ConfigMap's delay notwithstanding", async () => {
    // The env the doc's pipeline adds to the Job's container (create job --from copies the
    // CronJob's jobTemplate; `kubectl set env` appends to the container's env).
    const doc = await readFile(new URL('../../docs/kubernetes.md', import.meta.url), 'utf8');
    const setEnv = doc.split('\n').find((l) => l.includes('kubectl set env --local -f -'));
    assert.ok(setEnv, 'docs/kubernetes.md shows no `kubectl set env` for a run by hand');
    const overrides = Object.fromEntries(
      setEnv
        .split(/\s+/)
        .filter((w) => /^[A-Z_]+=/.test(w))
        .map((w) => w.split('=', 2) as [string, string]),
    );
    assert.equal(overrides.SPLAY_SECONDS, '0');
    // The ConfigMap's delay is what a Job made from the CronJob would otherwise sleep.
    assert.equal(cronEnv.SPLAY_SECONDS, '3600');
    const root = await device();
    // Kubernetes: a container's `env` wins over its `envFrom` (the ConfigMap).
    const r = await sh(cronScript, {
      ...cronEnv,
      ...overrides,
      KUBESOLO_ROOT: root,
      KUBESOLO_UPDATE_REBOOT_COMMAND: rebootCmd,
      UPDATE_SERVER: base + 'latest.json',
    });
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /waiting \d+s before contacting/);
    assert.equal((await readGrubEnvFile(at(root, DEVICE_PATHS.grubenv)))!.get('active_slot'), 'B');
    assert.ok(await exists(join(root, 'rebooted')), 'the reboot command ran');
  });

  it('a verification failure (another key) fails the Job with exit 4', async () => {
    const root = await device();
    await writeFile(at(root, '/etc/kubesolo/update.pub'), generateKeyPair().publicKeyHex + '\n');
    const r = await sh(cronScript, {
      ...cronEnv,
      KUBESOLO_ROOT: root,
      KUBESOLO_UPDATE_REBOOT_COMMAND: rebootCmd,
      UPDATE_SERVER: base + 'latest.json',
      SPLAY_SECONDS: '0',
    });
    assert.equal(r.code, 4, r.out);
    assert.equal(await exists(join(root, 'rebooted')), false);
  });
});
