/**
 * A release that fails stays failed, on the real boot chain (issue 25, item 7;
 * docs/operating.md "Failed releases"). Every update here is run by the CronJob's own
 * script, taken from deploy/kubernetes/cronjob.yaml at test time (splay 0, the guest's
 * loopback as the update server, --root /), as the scheduled job runs it:
 *
 * 1. On A (v1.0.0) the job installs v2.0.0 (`v2-rollback`: its health check fails and
 *    its update.conf says auto_rollback_after=1) and reboots.
 * 2. B boots on trial; the agent's own `healthcheck --reboot` (os/init.d) fails, rolls
 *    back and reboots: no help from GRUB's boot counter.
 * 3. On A the next scheduled run does not install v2.0.0 again (quarantined: check exits
 *    3, the job ends successfully, nothing is written); a newer good release (v3.0.0)
 *    then installs, and the job reboots into it.
 * 4. B (v3.0.0) commits. An operator rolls back; the next scheduled run before the reboot
 *    leaves the rollback alone (ROLLBACK_PENDING), and the operator reboots.
 * 5. On A the next scheduled run does not install v3.0.0 again: the rollback sticks.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { bootStatus, rc, script, statusOut, type Status } from './helpers/guest.js';
import { controlDisk, REPO } from './helpers/image.js';
import type { BootResult } from './helpers/qemu.js';
import { publish } from './helpers/release.js';
import { assertCleanPoweroff, cmdline, fields, mark } from './helpers/marks.js';
import { committed, onTrial, scenario } from './helpers/scenario.js';
import { suite } from './helpers/suite.js';

/** The CronJob's container script and the ConfigMap it reads, as the manifests ship them. */
async function cronJob(): Promise<{ script: string; env: Record<string, string> }> {
  const docs = async (file: string) =>
    parseAllDocuments(await readFile(join(REPO, 'deploy/kubernetes', file), 'utf8')).map(
      (d) => d.toJS() as Record<string, any>,
    );
  const [cj] = await docs('cronjob.yaml');
  const container = cj!.spec.jobTemplate.spec.template.spec.containers[0];
  const [cm] = await docs('configmap.yaml');
  return { script: container.command[2] as string, env: cm!.data as Record<string, string> };
}

/** Guest helpers: run the CronJob script (`cron NAME`), restart the server on another release. */
function cronLib(env: Record<string, string>): string {
  const exports = Object.entries({
    ...env,
    // The guest is the node: its own root, its own loopback server, no random delay.
    KUBESOLO_ROOT: '/',
    UPDATE_SERVER: 'http://127.0.0.1:8080/latest.json',
    SPLAY_SECONDS: '0',
  })
    .map(([k, v]) => `export ${k}='${v}'`)
    .join('\n');
  return `
cron() {
  ( ${exports.replace(/\n/g, '; ')}; sh /ctl/cronjob.sh ) > /tmp/$1.log 2>&1
  rc=$?
  sed 's/^/KSOLO-E2E: '$1'-log /' /tmp/$1.log
  mark "$1 rc=$rc"
}
grubenv() { mark "$1 $(grep -v '^#' /boot/grub/grubenv | tr '\\n' ' ')"; }
restart_serve() {
  kill $srv 2>/dev/null
  while kill -0 $srv 2>/dev/null; do sleep 0.1; done
  serve "$1" || exit 1
  srv=$!
}
`;
}

/** The log lines a control-script command printed (`NAME-log ...`). */
function logOf(r: BootResult, name: string): string {
  return r.marks
    .filter((m) => m.startsWith(`${name}-log `))
    .map((m) => m.slice(name.length + 5))
    .join('\n');
}

type Quarantined = { version: string; reason: string }[];
const quarantined = (s: Status) =>
  ((s as unknown as { quarantined: Quarantined }).quarantined ?? []).map(
    (q) => `${q.version} ${q.reason}`,
  );

scenario(
  suite,
  {
    title: 'e2e: a failed release is not installed again',
    test: 'rolled back by its own health check, refused by the next runs; a rollback sticks',
    device: 'quarantine',
  },
  async (dev) => {
    const v2 = await publish('v2-rollback', 'v2.0.0', join(dev.dir, 'v2'));
    const v3 = await publish('v3', 'v3.0.0', join(dev.dir, 'v3'));
    const cj = await cronJob();
    // A control disk running `body` with the CronJob's script and both releases at hand.
    const ctl = (name: string, body: string) =>
      controlDisk(dev.dir, name, script(`${cronLib(cj.env)}\n${body}`), {
        'cronjob.sh': join(dev.dir, 'cronjob.sh'),
        v2,
        v3,
      });
    await writeFile(join(dev.dir, 'cronjob.sh'), cj.script);

    // 1. The scheduled job installs v2.0.0 and reboots into it.
    const first = await dev.boot('A-job-installs-v2', {
      control: await ctl('install-v2', 'serve /ctl/v2 || exit 1\ncron job'),
    });
    assert.match(cmdline(first), /kubesolo\.slot=A/);
    assert.equal(rc(first, 'job'), 0, logOf(first, 'job'));
    assert.ok(
      first.marks.some((m) => m.startsWith('reboot requested')),
      'the job rebooted',
    );
    assert.deepEqual(await dev.bootEnv(), onTrial('B'));

    // 2. Its health check fails; the agent rolls back and reboots (auto_rollback_after=1).
    const trial = await dev.boot('B-healthcheck-rolls-back');
    assert.equal(trial.timedOut, false);
    assert.match(cmdline(trial), /kubesolo\.slot=B/);
    assert.equal(fields(mark(trial, 'init ')).release, 'v2.0.0');
    assert.ok(
      trial.marks.some((m) => m.startsWith('reboot requested')),
      'healthcheck --reboot',
    );
    assert.ok(!trial.marks.some((m) => m.startsWith('poweroff')));
    // GRUB's counter was not what ended it: the agent pointed GRUB back, trusted.
    assert.deepEqual(await dev.bootEnv(), committed('A'));

    // 3. The next run refuses v2.0.0 and writes nothing; a newer release installs.
    const third = await dev.boot('A-job-refuses-v2-installs-v3', {
      control: await ctl(
        'refuse-v2-install-v3',
        `
serve /ctl/v2 || exit 1
srv=$!
cron refuse
grubenv after-refuse
slot_version B
restart_serve /ctl/v3
cron install`,
      ),
    });
    assert.match(cmdline(third), /kubesolo\.slot=A/);
    const back = bootStatus(third);
    assert.equal(back.state.phase, 'rolled_back');
    assert.equal(back.state.reason, 'HEALTH_CHECK_FAILED');
    assert.deepEqual(quarantined(back), ['v2.0.0 HEALTH_CHECK_FAILED']);
    assert.equal(rc(third, 'refuse'), 0, 'a gate refusal ends the job successfully');
    assert.match(logOf(third, 'refuse'), /REFUSED\s+quarantine\s+v2\.0\.0 was quarantined/);
    assert.match(logOf(third, 'refuse'), /refused by a gate; the next run checks again/);
    assert.ok(!/apply/.test(logOf(third, 'refuse')), 'apply never ran');
    assert.ok(
      third.marks.includes('after-refuse active_slot=A boot_counter=3 boot_success=1 '),
      JSON.stringify(third.marks.filter((m) => m.startsWith('after-refuse'))),
    );
    assert.ok(third.marks.includes('slot-version B v2.0.0'), 'slot B was not written again');
    assert.equal(rc(third, 'install'), 0, logOf(third, 'install'));
    assert.doesNotMatch(logOf(third, 'install'), /refused by a gate/);
    assert.ok(third.marks.some((m) => m.startsWith('reboot requested')));
    assert.deepEqual(await dev.bootEnv(), onTrial('B'));

    // 4. v3.0.0 commits; an operator rolls back, the job before the reboot leaves it alone.
    const fourth = await dev.boot('B-v3-commits-operator-rolls-back', {
      control: await ctl(
        'rollback',
        `
serve /ctl/v3 || exit 1
agent rollback rollback --json
cron pending
grubenv after-pending
reboot`,
      ),
    });
    assert.match(cmdline(fourth), /kubesolo\.slot=B/);
    const committedV3 = bootStatus(fourth);
    assert.equal(committedV3.state.phase, 'success');
    assert.equal(committedV3.state.to_version, 'v3.0.0');
    assert.equal(rc(fourth, 'rollback'), 0);
    assert.equal(rc(fourth, 'pending'), 0);
    assert.match(logOf(fourth, 'pending'), /ROLLBACK_PENDING/);
    assert.ok(
      fourth.marks.includes('after-pending active_slot=A boot_counter=3 boot_success=1 '),
      JSON.stringify(fourth.marks.filter((m) => m.startsWith('after-pending'))),
    );

    // 5. Back on A: the next run does not install v3.0.0 again.
    const fifth = await dev.boot('A-job-keeps-rollback', {
      control: await ctl('keep', 'serve /ctl/v3 || exit 1\ncron keep\nagent status status --json'),
    });
    assertCleanPoweroff(fifth);
    assert.match(cmdline(fifth), /kubesolo\.slot=A/);
    assert.equal(rc(fifth, 'keep'), 0);
    assert.match(
      logOf(fifth, 'keep'),
      /REFUSED\s+quarantine\s+v3\.0\.0 was quarantined .*MANUAL_ROLLBACK/,
    );
    const st = statusOut(fifth);
    assert.equal(st.running_slot, 'A');
    assert.equal(st.slots.A.version, 'v1.0.0');
    assert.equal(st.state.reason, 'MANUAL_ROLLBACK');
    assert.deepEqual(quarantined(st), ['v2.0.0 HEALTH_CHECK_FAILED', 'v3.0.0 MANUAL_ROLLBACK']);
    assert.deepEqual(await dev.bootEnv(), committed('A'));
  },
);
