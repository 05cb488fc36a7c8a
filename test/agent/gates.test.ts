import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  architectureGate,
  channelGate,
  freeSpaceGate,
  goArch,
  maintenanceWindowGate,
  minCompatibleVersionGate,
  nodeBlockGate,
  requiredSpace,
  versionGate,
} from '../../src/agent/gates.js';

describe('gates', () => {
  it('maps Node architectures to Go names', () => {
    assert.equal(goArch('x64'), 'amd64');
    assert.equal(goArch('arm64'), 'arm64');
    assert.equal(goArch('arm'), 'arm');
    assert.equal(goArch('riscv64'), 'riscv64');
  });

  it('maintenance window: open, closed, forced, unset', () => {
    const at = new Date(2026, 0, 5, 3, 30); // local 03:30
    assert.equal(maintenanceWindowGate('02:00-04:00', at, false).pass, true);
    const closed = maintenanceWindowGate('05:00-06:00', at, false);
    assert.equal(closed.pass, false);
    assert.equal(closed.code, 'OUTSIDE_MAINTENANCE_WINDOW');
    assert.equal(maintenanceWindowGate('05:00-06:00', at, true).skipped, true);
    assert.equal(maintenanceWindowGate(undefined, at, false).skipped, true);
  });

  it('channel applies only when both sides set one', () => {
    assert.equal(channelGate('stable', 'beta').code, 'CHANNEL_MISMATCH');
    assert.equal(channelGate('stable', 'stable').pass, true);
    assert.equal(channelGate(undefined, 'beta').skipped, true);
    assert.equal(channelGate('stable', undefined).skipped, true);
  });

  it('architecture', () => {
    assert.equal(architectureGate('amd64', 'arm64').code, 'ARCH_MISMATCH');
    assert.equal(architectureGate('amd64', 'amd64').pass, true);
    assert.equal(architectureGate('amd64', undefined).skipped, true);
  });

  it('minimum compatible version', () => {
    assert.equal(minCompatibleVersionGate('v1.0.0', 'v1.2.0').code, 'VERSION_INCOMPATIBLE');
    assert.equal(minCompatibleVersionGate('v1.2.0', 'v1.2.0').pass, true);
    assert.equal(minCompatibleVersionGate('v1.2.0', undefined).skipped, true);
  });

  it('version: newer passes, equal is UP_TO_DATE, older is refused unless allowed', () => {
    assert.equal(versionGate('v1.0.0', 'v1.0.1', false).pass, true);
    const same = versionGate('v1.0.0', '1.0.0', false);
    assert.equal(same.pass, true);
    assert.equal(same.code, 'UP_TO_DATE');
    assert.equal(versionGate('v1.0.0', 'v0.9.9', false).code, 'DOWNGRADE_REFUSED');
    assert.equal(versionGate('v1.0.0', 'v0.9.9', true).pass, true);
    assert.throws(() => versionGate('v1.0.0', 'latest', false), { code: 'INVALID_VERSION' });
  });

  it('free space needs the image plus 10 %', () => {
    assert.equal(requiredSpace(1000), 1100);
    assert.equal(freeSpaceGate('slot B', 1100, 1000).pass, true);
    assert.equal(freeSpaceGate('slot B', 1099, 1000).code, 'INSUFFICIENT_SPACE');
    assert.equal(freeSpaceGate('slot B', 0, undefined).skipped, true);
  });

  it('node block label', () => {
    assert.equal(
      nodeBlockGate({ kind: 'checked', blockedNodes: ['edge-1'] }).code,
      'NODE_UPDATE_BLOCKED',
    );
    assert.equal(nodeBlockGate({ kind: 'checked', blockedNodes: [] }).pass, true);
    assert.equal(nodeBlockGate({ kind: 'no-kubeconfig' }).skipped, true);
    assert.equal(nodeBlockGate({ kind: 'unreachable', error: 'KUBE_UNREACHABLE' }).skipped, true);
    assert.equal(nodeBlockGate({ kind: 'forced' }).skipped, true);
  });
});
