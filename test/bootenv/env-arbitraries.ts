/**
 * What the property tests of the GRUB and U-Boot environment codecs share: random
 * variable names and values over a chosen alphabet, and the codec's answer whether it
 * stores or refuses (each is compared with the real tool's, grub-editenv or mkenvimage).
 */
import fc from 'fast-check';
import { KubesoloError } from '../../src/errors.js';

/** Names of 1 to `maxLength` characters of `chars` that `invalidReason` lets through. */
export function names(
  chars: string,
  maxLength: number,
  invalidReason: (name: string) => string | undefined,
): fc.Arbitrary<string> {
  return fc
    .string({ unit: fc.constantFrom(...chars), minLength: 1, maxLength })
    .filter((n) => invalidReason(n) === undefined);
}

/** Values of `chars`: short ones (`minLength` to `short`) and long ones (`long`). */
export function values(
  chars: string,
  short: number,
  long: [number, number],
  minLength = 0,
): fc.Arbitrary<string> {
  const unit = fc.constantFrom(...chars);
  return fc.oneof(
    fc.string({ unit, minLength, maxLength: short }),
    fc.string({ unit, minLength: long[0], maxLength: long[1] }),
  );
}

/** What `serialize` returns, or the KubesoloError it refuses with (other errors are thrown). */
export function stored<T>(serialize: () => T): T | KubesoloError {
  try {
    return serialize();
  } catch (err) {
    if (err instanceof KubesoloError) return err;
    throw err;
  }
}
