/**
 * The agent following an OCI registry (issue #8): `kubesolo-release push` into the real
 * reference registry (docker-registry on loopback), then the agent's check/apply with
 * --registry/--tag through the same gates, state machine and trust policy as HTTP.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runRelease } from '../helpers/cli.js';
import { readJson, type Device } from '../helpers/device.js';
import { agentFromRegistry, makeDeviceTrusting, pushBuild } from '../helpers/oci-agent.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';

const skip = registrySkipReason();

describe('agent over an OCI registry', { skip }, () => {
  let reg: TestRegistry;
  let tmp: string;
  let dev: Device;
  const repository = () => `${reg.host}/kubesolo/os`;

  before(async () => {
    reg = await startRegistry();
    tmp = await mkdtemp(join(tmpdir(), 'ks-oci-agent-'));
    const kg = await runRelease(['keygen', '--out', join(tmp, 'keys')]);
    assert.equal(kg.code, 0, kg.stderr);
    await writeFile(join(tmp, 'vmlinuz'), randomBytes(70_000));
    await writeFile(join(tmp, 'kubesolo-os.gz'), randomBytes(150_000));
    const key = join(tmp, 'keys/release.key');
    for (const [tag, signed] of [
      ['v1.1.0', true],
      ['v1.2.0', false],
    ] as const) {
      const r = await pushBuild(repository(), tag, tmp, signed ? { key } : {});
      assert.equal(r.code, 0, r.stderr);
    }
    dev = await makeDeviceTrusting(join(tmp, 'keys/release.pub'));
  });
  after(async () => {
    await reg?.stop();
    await dev?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const agent = (cmd: string, tag: string) => agentFromRegistry(dev, repository(), cmd, tag);

  it('check and apply a signed release from the registry', async () => {
    const c = await agent('check', 'v1.1.0');
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout).available_version, 'v1.1.0');
    const a = await agent('apply', 'v1.1.0');
    assert.equal(a.code, 0, a.stderr);
    assert.equal(JSON.parse(a.stdout).outcome, 'staged');
    assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
    assert.deepEqual(
      await readFile(dev.path('slots/b/vmlinuz')),
      await readFile(join(tmp, 'vmlinuz')),
    );
  });

  it('an unsigned artifact is refused when a key is configured (exit 4), nothing installed', async () => {
    const a = await agent('apply', 'v1.2.0');
    assert.equal(a.code, 4, a.stderr);
    const code = (JSON.parse(a.stdout) as { error: { code: string } }).error.code;
    assert.match(code, /SIGNATURE/);
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    // v1.1.0 is staged and intact: the refused offer is recorded without discarding it.
    assert.equal(st.phase, 'staged');
    assert.equal(st.reason, code);
    assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
  });
});
