/**
 * `npm run demo`: the whole update cycle on a simulated device, without root, with the
 * real binaries. A good release is published, served, checked, applied, activated,
 * booted (GRUB's rules, simulated) and health-checked; then a bad release fails its
 * health check, is rolled back, and is not offered again (quarantined). Every step prints the command it runs and what
 * happened, and the script checks the device's state after each part: it exits 1 if
 * anything is not as it should be.
 *
 *   node --import tsx scripts/demo.ts [--dir DIR] [--no-color]
 *
 * --dir keeps the work directory (device, keys, site) for inspection; without it a
 * temp directory is used and removed.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEVICE_PATHS, at, buildImages, createDevice, grubVars, reboot } from './demo/device.js';
import { startProbe } from './demo/probe.js';
import { run, start, type Ran, type RunOptions } from './demo/run.js';

const GOOD = 'v1.1.0';
const BAD = 'v1.2.0';
const INSTALLED = 'v1.0.0';

interface Status {
  active_slot: string;
  running_slot: string | null;
  boot_counter: number;
  boot_success: boolean;
  slots: Record<'A' | 'B', { version: string | null }>;
  state: { phase?: string; reason?: string | null; health_check_failures?: number };
  quarantined: { version: string; reason: string }[];
}

/** Go's architecture name for this machine (what `latest.json` `architecture` holds). */
function goArch(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    riscv64: 'riscv64',
  };
  return map[process.arch] ?? process.arch;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, 'no-color': { type: 'boolean' } },
  });
  const color = values['no-color'] !== true && process.stdout.isTTY === true;
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
  const print = (text = '') => process.stdout.write(text + '\n');
  const work =
    values.dir !== undefined
      ? resolve(values.dir)
      : await mkdtemp(join(tmpdir(), 'kubesolo-demo-'));
  await mkdir(work, { recursive: true });
  const o: RunOptions = { cwd: work, print, color };
  const failures: string[] = [];
  let n = 0;
  const step = (title: string) => print(`\n${bold(`${++n}. ${title}`)}`);
  const expect = (ok: boolean, what: string) => {
    print(`   ${ok ? '✓' : '✗'} ${what}`);
    if (!ok) failures.push(what);
  };
  const expectExit = (r: Ran, code: number, what: string) =>
    expect(r.code === code, `${what} (exit ${String(r.code)}, expected ${code})`);
  const agent = (...args: string[]) => run('kubesolo-update', ['--root', 'device', ...args], o);
  const status = async (): Promise<Status | undefined> => {
    const r = await run('kubesolo-update', ['--root', 'device', 'status'], o);
    const j = await run('kubesolo-update', ['--root', 'device', 'status', '--json'], {
      ...o,
      print: () => undefined,
    });
    if (r.code !== 0 || j.code !== 0) return undefined;
    return JSON.parse(j.stdout) as Status;
  };
  const cleanups: (() => Promise<void>)[] = [];

  print(bold('kubesolo-update demo: an A/B update, then a bad one that rolls back'));
  print(
    `work directory: ${work}${values.dir === undefined ? ' (removed at the end; use --dir to keep it)' : ''}`,
  );
  try {
    const root = join(work, 'device');

    step(`A simulated device under ${root}`);
    await createDevice(root, INSTALLED);
    print(`   slot A: ${INSTALLED} (booted, committed); slot B: empty`);
    print(`   grubenv (written with the project's codec): ${await grubVars(root)}`);
    print(
      `   kernel command line: ${(await readFile(at(root, DEVICE_PATHS.cmdline), 'utf8')).trim()}`,
    );
    const probe = await startProbe(root, new Set([BAD]));
    cleanups.push(() => probe.close());
    print(`   the device's workload answers ${probe.url}: 200 on a good release, 503 on ${BAD}`);

    step('Make a release key');
    expectExit(await run('kubesolo-release', ['keygen', '--out', 'keys'], o), 0, 'keygen');

    step(`Publish ${GOOD}`);
    await buildImages(join(work, 'build', GOOD), 2 * 1024 * 1024, 16 * 1024 * 1024);
    const publish = (v: string, notes: string) =>
      run(
        'kubesolo-release',
        [
          'publish',
          '--key',
          'keys/release.key',
          '--release-version',
          v,
          '--kernel',
          `build/${v}/vmlinuz`,
          '--initramfs',
          `build/${v}/kubesolo-os.gz`,
          '--out',
          'site',
          '--channel',
          'stable',
          '--arch',
          goArch(),
          '--expires-in',
          '7d',
          '--release-notes',
          notes,
        ],
        o,
      );
    expectExit(await publish(GOOD, 'A good release'), 0, 'publish');
    expectExit(
      await run('kubesolo-release', ['verify', '--pubkey', 'keys/release.pub', 'site'], o),
      0,
      'the published release verifies as a device would check it',
    );

    step('Serve it on loopback');
    const server = await start(
      'kubesolo-release',
      ['serve', 'site', '--listen', '127.0.0.1:0'],
      /at (http:\/\/127\.0\.0\.1:\d+\/)/,
      o,
    );
    cleanups.push(server.stop);
    const base = server.match[1]!;

    step('Configure the device from a cloud-init file (updates: block)');
    const pub = (await readFile(join(work, 'keys', 'release.pub'), 'utf8')).trim();
    const userData = [
      '#cloud-config',
      'hostname: demo-device',
      'updates:',
      `  server: ${base}latest.json`,
      '  channel: stable',
      `  pubkey: ${pub}`,
      `  healthcheck_url: ${probe.url}`,
      '  auto_rollback_after: 2',
      '  # no Kubernetes in this demo: decide health by the disk and the workload probe',
      '  health_checks: [disk_writable, probe_url]',
      '  healthcheck_timeout: 3',
      '  slot_backend: dir',
      `  slot_a_dir: ${DEVICE_PATHS.slotA}`,
      `  slot_b_dir: ${DEVICE_PATHS.slotB}`,
      `  grubenv: ${DEVICE_PATHS.grubenv}`,
      '',
    ].join('\n');
    await writeFile(join(work, 'user-data.yaml'), userData);
    for (const line of userData.trimEnd().split('\n')) print(`   │ ${line}`);
    expectExit(await agent('cloud-init', 'apply', 'user-data.yaml'), 0, 'cloud-init apply');
    for (const line of (await readFile(at(root, DEVICE_PATHS.config), 'utf8'))
      .trimEnd()
      .split('\n')) {
      print(`   │ ${line}`);
    }

    step('Status before the update');
    await status();

    step('check: what is on offer, and would every gate let it through?');
    expectExit(await agent('check'), 0, `check sees ${GOOD} and every gate passes`);

    step(`apply: download, verify, write slot B`);
    expectExit(await agent('apply'), 0, `apply stages ${GOOD} in slot B`);

    step('activate: tell GRUB to try slot B on the next boot');
    expectExit(await agent('activate'), 0, 'activate');
    print(`   grubenv: ${await grubVars(root)}`);

    step("Reboot (simulated: GRUB's rules from boot/grub.cfg)");
    let boot = await reboot(root);
    print(
      `   GRUB: ${boot.action} → booted slot ${boot.bootedSlot}; grubenv now ${await grubVars(root)}`,
    );
    expect(boot.bootedSlot === 'B' && boot.action === 'trial', 'GRUB boots slot B on trial');

    step('healthcheck: commit slot B if the new OS is healthy');
    expectExit(await agent('healthcheck'), 0, 'healthcheck passes and commits slot B');

    step('Status after the good update');
    let s = await status();
    expect(s?.running_slot === 'B' && s.slots.B.version === GOOD, `running ${GOOD} from slot B`);
    expect(s?.state.phase === 'success', `phase success (got ${String(s?.state.phase)})`);
    expect(s?.boot_success === true && s.active_slot === 'B', 'slot B committed in grubenv');

    step(`Publish ${BAD}: a build whose workload does not come up`);
    await buildImages(join(work, 'build', BAD), 2 * 1024 * 1024, 16 * 1024 * 1024);
    expectExit(await publish(BAD, 'A bad release'), 0, 'publish');

    step(`check, apply, activate ${BAD} (into slot A, the passive one now)`);
    expectExit(await agent('check'), 0, `check sees ${BAD}`);
    expectExit(await agent('apply'), 0, `apply stages ${BAD} in slot A`);
    expectExit(await agent('activate'), 0, 'activate');

    step('Reboot into it (simulated)');
    boot = await reboot(root);
    print(
      `   GRUB: ${boot.action} → booted slot ${boot.bootedSlot}; grubenv now ${await grubVars(root)}`,
    );
    expect(boot.bootedSlot === 'A' && boot.action === 'trial', 'GRUB boots slot A on trial');

    step('healthcheck fails: the workload probe answers 503 (auto_rollback_after=2)');
    expectExit(
      await agent('healthcheck'),
      5,
      'first failed health check (exit 5), no rollback yet',
    );
    expectExit(await agent('healthcheck'), 5, 'second failed health check (exit 5): rolled back');
    print(`   grubenv: ${await grubVars(root)}`);

    step('Reboot (simulated): GRUB boots the trusted old slot');
    boot = await reboot(root);
    print(
      `   GRUB: ${boot.action} → booted slot ${boot.bootedSlot}; grubenv now ${await grubVars(root)}`,
    );
    expect(boot.bootedSlot === 'B', 'GRUB boots slot B again');

    step('Status after the rollback');
    s = await status();
    expect(
      s?.running_slot === 'B' && s.slots.B.version === GOOD,
      `running ${GOOD} from slot B again`,
    );
    expect(s?.state.phase === 'rolled_back', `phase rolled_back (got ${String(s?.state.phase)})`);
    expect(
      s?.state.reason === 'HEALTH_CHECK_FAILED',
      `reason HEALTH_CHECK_FAILED (got ${String(s?.state.reason)})`,
    );
    expect(s?.boot_success === true && s.active_slot === 'B', 'slot B active and committed');
    expect(
      s?.quarantined.some((q) => q.version === BAD) === true,
      `${BAD} is quarantined on the device`,
    );

    step(`The next scheduled run: ${BAD} is not offered again`);
    const again = await agent('check');
    expectExit(again, 3, `check refuses ${BAD}: quarantine gate (QUARANTINED)`);
    expect(/QUARANTINED/.test(again.stdout), 'check names the quarantine');
    expectExit(await agent('apply'), 3, `apply refuses to install ${BAD} again`);
    print(`   a newer release, 'kubesolo-update forget ${BAD}' or apply --force lets it in`);
  } catch (err) {
    failures.push(err instanceof Error ? err.message : String(err));
    print(`\n✗ the demo stopped: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (values.dir === undefined) await rm(work, { recursive: true, force: true });
  }

  print('');
  if (failures.length === 0) {
    print(
      bold(
        `Done: ${GOOD} runs committed in slot B; ${BAD} failed its health check, was rolled back and is not installed again.`,
      ),
    );
    return 0;
  }
  print(bold(`The demo found ${failures.length} problem(s):`));
  for (const f of failures) print(`  ✗ ${f}`);
  return 1;
}

process.exitCode = await main();
