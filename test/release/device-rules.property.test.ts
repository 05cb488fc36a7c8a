/**
 * "verifies as a device would accept it" holds for any input: for generated publish
 * options, whatever `publishRelease` writes is accepted by the device's own latest.json
 * parser (src/metadata/parse.ts, versions included), and whatever a device would
 * refuse, publish refuses with the device's reason code as a usage error (exit 2).
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { KubesoloError } from '../../src/errors.js';
import { parseReleaseMetadata } from '../../src/metadata/parse.js';
import { generateKeyPair } from '../../src/release/keys.js';
import { buildMetadata, publishRelease, type PublishOptions } from '../../src/release/publish.js';

let dir: string;
let n = 0;
const seen = { published: 0, refusedForDevice: 0 };
const key = generateKeyPair();
const now = new Date('2026-11-25T12:00:00Z');
const kernelBytes = Buffer.alloc(2_000, 7);
const initramfsBytes = Buffer.alloc(5_000, 9);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-device-rules-'));
  await writeFile(join(dir, 'vmlinuz'), kernelBytes);
  await writeFile(join(dir, 'kubesolo-os.gz'), initramfsBytes);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const digits = fc.integer({ min: 0, max: 40 }).map(String);
const ident = fc.stringMatching(/^[0-9A-Za-z.-]{1,8}$/);
/** Versions a device orders, near misses (`0.4`, `v1`, `1.2.3.4`) and arbitrary text. */
const version = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.boolean(), digits, digits, digits, fc.option(ident), fc.option(ident))
      .map(
        ([v, a, b, c, pre, build]) =>
          `${v ? 'v' : ''}${a}.${b}.${c}${pre ? `-${pre}` : ''}${build ? `+${build}` : ''}`,
      ),
  },
  fc.constantFrom('0.4', 'v1', '1.2.3.4', 'v1.2', 'latest', '../evil', '.hidden', 'v1.2.3 ', ''),
  fc.stringMatching(/^[A-Za-z0-9._+~-]{1,20}$/),
  fc.string({ maxLength: 12 }),
);
const token = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/) },
  fc.string({ maxLength: 140 }),
);

const options = fc.record(
  {
    version,
    channel: token,
    architecture: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('amd64', 'arm64') }, token),
    minCompatibleVersion: version,
    releaseNotes: fc.string({ maxLength: 40 }),
    expiresInSeconds: fc.integer({ min: 1, max: 10_000_000 }),
    baseUrl: fc.constantFrom(
      'https://updates.example.test/os',
      'http://10.0.0.1:8080/',
      'ftp://x/',
    ),
  },
  { requiredKeys: ['version'] },
);

describe('publish applies exactly the device metadata rules', () => {
  it('what publish writes, a device accepts; what a device refuses, publish refuses', async () => {
    await fc.assert(
      fc.asyncProperty(options, async (o) => {
        const full: PublishOptions = {
          ...o,
          key: key.privateKey,
          imagePaths: { vmlinuz: join(dir, 'vmlinuz'), initramfs: join(dir, 'kubesolo-os.gz') },
          outDir: join(dir, `out-${n++}`),
          clock: { now: () => now },
        };
        const metadataUrl = `${o.baseUrl ?? 'http://device.example.test'}/latest.json`;
        let published = true;
        try {
          await publishRelease(full);
        } catch (err) {
          published = false;
          assert.ok(err instanceof KubesoloError, String(err));
          assert.equal(err.exitCode, 2, `${err.code}: ${err.message}`);
          // A refusal in the device's name is one the device really makes, same code.
          if (typeof err.details.flag === 'string') {
            seen.refusedForDevice++;
            const bytes = Buffer.from(
              JSON.stringify(
                buildMetadata(full, { vmlinuz: kernelBytes, initramfs: initramfsBytes }, now),
              ),
            );
            assert.throws(() => parseReleaseMetadata(bytes, metadataUrl, now), { code: err.code });
          }
        }
        if (published) {
          seen.published++;
          const bytes = await readFile(join(full.outDir, 'latest.json'));
          const m = parseReleaseMetadata(bytes, metadataUrl, now);
          assert.equal(m.version, o.version);
          assert.equal(m.minCompatibleVersion, o.minCompatibleVersion || undefined);
        }
        await rm(full.outDir, { recursive: true, force: true });
      }),
      { numRuns: 200 },
    );
    // Both sides of the rule were exercised, not only refusals.
    assert.ok(seen.published > 10, `only ${seen.published} publishes succeeded`);
    assert.ok(seen.refusedForDevice > 10, `only ${seen.refusedForDevice} device refusals`);
  });
});
