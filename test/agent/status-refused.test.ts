/**
 * A gate's refusal reads as a refusal in `status` (issue 29's wording): after an
 * operator's `hold`, apply is refused (HELD, exit 3); state.json records the phase
 * `failed` with that reason (the --json contract), and the human view says `refused`,
 * while a real failure still says `failed`.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { expectRefusal, runAgent, runAgentJson as json } from '../helpers/cli.js';
import { makeKeys, publishRelease } from '../helpers/device.js';
import { useSignedDevice } from '../helpers/device-fixture.js';
import { assertCode } from '../helpers/code-assert.js';

const keys = makeKeys();

describe('status after a refusal', () => {
  const fixture = useSignedDevice(keys, { publish: 'v1.1.0' });

  it('a held apply: --json keeps phase failed / HELD, the text says refused', async () => {
    assert.equal((await json(['hold', ...fixture.root()])).code, 0);
    expectRefusal(await json(['apply', ...fixture.root()]), 'HELD', 3);
    const s = await json(['status', ...fixture.root()]);
    assert.equal(s.doc.state.phase, 'failed');
    assertCode(s.doc.state.reason, 'HELD');
    const text = await runAgent(['status', ...fixture.root()]);
    assert.match(text.stdout, /^Update: +refused \(see Reason\)$/m);
    assert.match(text.stdout, /^Reason: +HELD: /m);
  });

  it('a failure that is not a refusal still reads failed', async () => {
    await publishRelease(fixture.releases.dir, { version: 'v1.2.0', keys: makeKeys() });
    expectRefusal(await json(['apply', ...fixture.root()]), 'SIGNATURE_INVALID', 4);
    const text = await runAgent(['status', ...fixture.root()]);
    assert.match(text.stdout, /^Update: +failed$/m);
  });
});
