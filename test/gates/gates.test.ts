import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  architectureGate,
  compatibleGate,
  channelGate,
  evaluateGates,
  freeSpaceGate,
  GATES,
  maintenanceWindowGate,
  minCompatibleVersionGate,
  nodeBlockGate,
  requiredSpace,
  versionGate,
  type LifecyclePolicy,
  type PreflightFacts,
  type ReleaseFacts,
} from '../../src/gates/gates.js';
import { refusalError } from '../../src/gates/verdict.js';
import { goArch } from '../../src/metadata/arch.js';
import { hasReason } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

describe('gates', () => {
  it('maps Node architectures to Go names', () => {
    const goNames = { x64: 'amd64', arm64: 'arm64', arm: 'arm', riscv64: 'riscv64' };
    for (const [node, go] of Object.entries(goNames)) assert.equal(goArch(node), go);
  });

  it('maintenance window: open, closed, forced, unset', () => {
    const at = new Date(2026, 0, 5, 3, 30); // local 03:30
    assert.equal(maintenanceWindowGate('02:00-04:00', at, false).pass, true);
    const closed = maintenanceWindowGate('05:00-06:00', at, false);
    assert.equal(closed.pass, false);
    assertCode(closed.code, 'OUTSIDE_MAINTENANCE_WINDOW');
    assert.equal(maintenanceWindowGate('05:00-06:00', at, true).skipped, true);
    assert.equal(maintenanceWindowGate(undefined, at, false).skipped, true);
  });

  it('channel applies only when both sides set one', () => {
    assertCode(channelGate('stable', 'beta').code, 'CHANNEL_MISMATCH');
    assert.equal(channelGate('stable', 'stable').pass, true);
    assert.equal(channelGate(undefined, 'beta').skipped, true);
    assert.equal(channelGate('stable', undefined).skipped, true);
  });

  it('architecture', () => {
    assertCode(architectureGate('amd64', 'arm64').code, 'ARCH_MISMATCH');
    assert.equal(architectureGate('amd64', 'amd64').pass, true);
  });

  it('compatible: a release that names boards installs only on those (docs/operating.md "Boards")', () => {
    const file = '/usr/lib/kubesolo/compatible';
    const rpi = { kind: 'known', name: 'rpi4', source: file } as const;
    assert.deepEqual(
      [compatibleGate(rpi, ['rpi4', 'rpi5']).pass, compatibleGate(rpi, ['rpi4']).code],
      [true, undefined],
    );
    const other = compatibleGate(rpi, ['nuc', 'qemu-x86']);
    assert.deepEqual([other.pass, other.code], [false, 'BOARD_INCOMPATIBLE']);
    assert.match(
      other.message,
      /release is for nuc, qemu-x86; this device is rpi4 \(\/usr\/lib\/kubesolo\/compatible\)/,
    );
    // Unknown board: accepted, loudly; a damaged identity: refused (it cannot tell).
    const missing = compatibleGate({ kind: 'missing', source: file }, ['nuc']);
    assert.deepEqual([missing.pass, missing.warning, missing.code], [true, true, 'BOARD_UNKNOWN']);
    const invalid = compatibleGate(
      { kind: 'invalid', source: file, problem: 'more than one line' },
      ['nuc'],
    );
    assert.deepEqual([invalid.pass, invalid.code], [false, 'BOARD_IDENTITY_INVALID']);
    // A release without the list: any board, the damaged identity too.
    for (const board of [rpi, { kind: 'missing', source: file } as const]) {
      assert.deepEqual(
        [compatibleGate(board, undefined).pass, compatibleGate(board, undefined).skipped],
        [true, true],
      );
    }
    assert.equal(
      compatibleGate({ kind: 'invalid', source: file, problem: 'x' }, undefined).pass,
      true,
    );
    assert.equal(architectureGate('amd64', undefined).skipped, true);
  });

  it('minimum compatible version', () => {
    assertCode(minCompatibleVersionGate('v1.0.0', 'v1.2.0').code, 'VERSION_INCOMPATIBLE');
    assert.equal(minCompatibleVersionGate('v1.2.0', 'v1.2.0').pass, true);
    assert.equal(minCompatibleVersionGate('v1.2.0', undefined).skipped, true);
  });

  it('version: newer passes, equal is UP_TO_DATE, older is refused unless allowed', () => {
    assert.equal(versionGate('v1.0.0', 'v1.0.1', false).pass, true);
    const same = versionGate('v1.0.0', '1.0.0', false);
    assert.equal(same.pass, true);
    assertCode(same.code, 'UP_TO_DATE');
    assertCode(versionGate('v1.0.0', 'v0.9.9', false).code, 'DOWNGRADE_REFUSED');
    assert.equal(versionGate('v1.0.0', 'v0.9.9', true).pass, true);
    assert.throws(() => versionGate('v1.0.0', 'latest', false), hasReason('INVALID_VERSION'));
  });

  it('free space needs the image plus 10 %', () => {
    assert.equal(requiredSpace(1000), 1100);
    assert.equal(freeSpaceGate('slot B', 1100, 1000).pass, true);
    assertCode(freeSpaceGate('slot B', 1099, 1000).code, 'INSUFFICIENT_SPACE');
    assert.equal(freeSpaceGate('slot B', 0, undefined).skipped, true);
  });

  it('node block label', () => {
    assertCode(
      nodeBlockGate({ kind: 'checked', blockedNodes: ['edge-1'] }).code,
      'NODE_UPDATE_BLOCKED',
    );
    assert.equal(nodeBlockGate({ kind: 'checked', blockedNodes: [] }).pass, true);
    assert.equal(nodeBlockGate({ kind: 'no-kubeconfig' }).skipped, true);
    assert.equal(nodeBlockGate({ kind: 'unreachable', error: 'KUBE_UNREACHABLE' }).skipped, true);
    assert.equal(nodeBlockGate({ kind: 'forced' }).skipped, true);
  });
});

// The one gate list check and apply both evaluate (src/gates/gates.ts GATES).
describe('the gate list', () => {
  const policy: LifecyclePolicy = {
    channel: 'stable',
    maintenanceWindow: undefined,
    architecture: 'amd64',
    activationMarginSeconds: 900,
    board: { kind: 'missing', source: '/usr/lib/kubesolo/compatible' },
  };
  const release = (f: Partial<ReleaseFacts> = {}): ReleaseFacts => ({
    policy,
    now: new Date(2026, 0, 5, 3, 30),
    force: false,
    hold: undefined,
    pendingRollback: undefined,
    releases: [],
    metadata: {
      version: 'v1.1.0',
      images: {
        vmlinuz: { url: 'http://127.0.0.1/vmlinuz', sha256: 'a'.repeat(64), size: 1000 },
        initramfs: { url: 'http://127.0.0.1/kubesolo-os.gz', sha256: 'b'.repeat(64), size: 1000 },
      },
      channel: 'stable',
      architecture: 'amd64',
    },
    allowDowngrade: false,
    runningSlot: 'A',
    runningVersion: 'v1.0.0',
    deviceId: undefined,
    floor: undefined,
    ...f,
  });
  const preflight = (f: Partial<PreflightFacts> = {}): PreflightFacts => ({
    ...release(),
    targetSlot: 'B',
    freeBytes: () => Promise.resolve(2200),
    nodeBlock: () => Promise.resolve({ kind: 'checked', blockedNodes: [] }),
    ...f,
  });

  it('is in the reported order, stage by stage', () => {
    assert.deepEqual(
      GATES.map((g) => `${g.stage}:${g.gate}`),
      [
        'device:hold',
        'device:pending_rollback',
        'release:rollout',
        'release:channel',
        'release:architecture',
        'release:compatible',
        'release:min_compatible_version',
        'release:version',
        'release:floor',
        'release:quarantine',
        'release:verification_backoff',
        'preflight:free_space',
        'preflight:node_block',
        'activation:maintenance_window',
      ],
    );
  });

  it('evaluates every gate of a stage, a refusal included', async () => {
    const verdicts = await evaluateGates(
      'release',
      release({ metadata: { ...release().metadata, channel: 'beta', architecture: 'arm64' } }),
    );
    assert.deepEqual(
      verdicts.map((v) => [v.gate, v.pass, v.code]),
      [
        ['rollout', true, undefined],
        ['channel', false, 'CHANNEL_MISMATCH'],
        ['architecture', false, 'ARCH_MISMATCH'],
        ['compatible', true, undefined],
        ['min_compatible_version', true, undefined],
        ['version', true, undefined],
        ['floor', true, undefined],
        ['quarantine', true, undefined],
        ['verification_backoff', true, undefined],
      ],
    );
  });

  it('an unknown running version: no minimum-version line, the version gate refuses', async () => {
    const noVersion = await evaluateGates('release', release({ runningVersion: undefined }));
    assert.deepEqual(
      noVersion.map((v) => [v.gate, v.code]),
      [
        ['rollout', undefined],
        ['channel', undefined],
        ['architecture', undefined],
        ['compatible', undefined],
        ['version', 'RUNNING_VERSION_UNKNOWN'],
      ],
    );
    const noSlot = await evaluateGates(
      'release',
      release({ runningSlot: undefined, runningVersion: undefined }),
    );
    assertCode(noSlot.at(-1)?.code, 'RUNNING_SLOT_UNKNOWN');
  });

  it('pre-flight: free space for both images + 10 %, no line without a target slot', async () => {
    const tight = await evaluateGates(
      'preflight',
      preflight({ freeBytes: () => Promise.resolve(2199) }),
    );
    assert.deepEqual(
      tight.map((v) => [v.gate, v.code]),
      [
        ['free_space', 'INSUFFICIENT_SPACE'],
        ['node_block', undefined],
      ],
    );
    const noTarget = await evaluateGates('preflight', preflight({ targetSlot: undefined }));
    assert.deepEqual(
      noTarget.map((v) => v.gate),
      ['node_block'],
    );
  });

  it('--force skips the window and never asks the Kubernetes API', async () => {
    const [window] = await evaluateGates('activation', {
      policy: { ...policy, maintenanceWindow: '05:00-06:00' },
      now: new Date(2026, 0, 5, 3, 30),
      force: true,
      hold: undefined,
      pendingRollback: undefined,
    });
    assert.equal(window?.skipped, true);
    const verdicts = await evaluateGates(
      'preflight',
      preflight({
        force: true,
        nodeBlock: () => Promise.reject(new Error('the node label was looked up')),
      }),
    );
    assert.equal(verdicts.at(-1)?.skipped, true);
  });

  it('the window is read in the policy time zone', async () => {
    // 03:30 UTC is 17:30 in Pacific/Kiritimati (UTC+14).
    const [window] = await evaluateGates('activation', {
      policy: { ...policy, maintenanceWindow: '17:00-18:00', timeZone: 'Pacific/Kiritimati' },
      now: new Date(Date.UTC(2026, 0, 5, 3, 30)),
      force: false,
      hold: undefined,
      pendingRollback: undefined,
    });
    assert.equal(window?.pass, true, window?.message);
    assert.match(window?.message ?? '', /17:30 Pacific\/Kiritimati/);
  });

  it('a refusal is thrown as exit 3 with its code and gate', () => {
    const err = refusalError(channelGate('stable', 'beta'));
    assertCode(err.code, 'CHANNEL_MISMATCH');
    assert.equal(err.exitCode, 3);
    assert.deepEqual(err.details, { gate: 'channel' });
  });
});
