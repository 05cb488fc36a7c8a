/**
 * The words of a trust refusal (docs/transport.md "Trust model"): one wording for the
 * HTTP source, the OCI source and `kubesolo-release verify`, whatever refused. The
 * decision and its code are decideTrust's (./decide.ts); this only says it.
 */
import { describeKeys, keyFingerprint } from '../crypto/keys.js';
import { ConfigError, VerificationError } from '../errors.js';
import type { TrustConfig, TrustRefusal } from './decide.js';

/**
 * Secure by default (docs/operating.md): with no key configured nothing would be
 * authenticated, so nothing is fetched unless the operator said `allow_unsigned=true`
 * (labs). The agent this project comes from installed unsigned images here.
 */
export function assertKeyConfigured(config: TrustConfig): void {
  if (config.keys.length > 0 || config.allowUnsigned) return;
  throw new ConfigError(
    'PUBKEY_REQUIRED',
    'no release key configured: set pubkey= in update.conf (the release.pub of kubesolo-release keygen, or a key set; --pubkey for one run), or allow_unsigned=true on a lab device to install releases nothing authenticates (docs/operating.md "Secure by default")',
  );
}

/**
 * A refusal as an error (exit 4). `subject` names what was refused (the metadata URL,
 * the registry reference); `details` add where it came from.
 */
export function trustRefusalError(
  refusal: TrustRefusal,
  subject: string,
  details: Record<string, unknown> = {},
): VerificationError {
  const { code, artifact } = refusal;
  const at = { artifact, ...details };
  switch (refusal.reason) {
    case 'metadata-signature-invalid':
      return signatureInvalidError(`${subject}: the metadata signature`, refusal.keys ?? [], at);
    case 'metadata-unsigned':
      return new VerificationError(
        code,
        `${subject}: the metadata is not signed and a public key is configured`,
        { details: { ...at, hint: 'sign it, or set allow_unsigned_metadata=true' } },
      );
    case 'image-unsigned':
      return new VerificationError(
        code,
        `${subject}: ${artifact} has no signature of its own and the metadata is unsigned (with allow_unsigned_metadata every image must be signed)`,
        { details: at },
      );
  }
}

/**
 * A signature that no configured key verifies. A signature (64 bytes, docs/design.md
 * §3.4) does not say which key made it, so this names what is known: the configured
 * keys by fingerprint, to compare with what `kubesolo-release keygen` and `verify`
 * print for the publisher's key. Shared by the metadata and the image signatures.
 */
export function signatureInvalidError(
  what: string,
  keys: readonly Uint8Array[],
  details: Record<string, unknown>,
): VerificationError {
  return new VerificationError(
    'SIGNATURE_INVALID',
    `${what} does not verify with the configured ${describeKeys(keys)}: signed by another key, or changed after signing? ` +
      "Compare with the fingerprint 'kubesolo-release verify' prints for the publisher's key; " +
      'install that key (pubkey=, docs/operating.md "Rotating the signing key") or republish signed with a configured key',
    { details: { ...details, configured_keys: keys.map(keyFingerprint) } },
  );
}
