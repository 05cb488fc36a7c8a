/**
 * The reason codes that no test asserts, each with why: read by
 * test/unit/reason-code-record.ts (the check of what the assertion helpers recorded)
 * and test/unit/reason-codes.test.ts (each exemption says why).
 * UNTESTED is keyed by ReasonCode, so exempting a code that does not exist (or no
 * longer does) does not compile.
 */
import type { ReasonCode } from '../../src/reason-codes.js';

/**
 * Codes that appear in src/ but are not the project's: Node, OpenSSL and undici error
 * codes the source recognises and maps to its own (KUBE_TLS, NETWORK_ERROR, ...).
 * The project's code they map to is what the tests assert. They are in no list of
 * src/reason-codes.ts (test/unit/reason-codes.test.ts checks that, and that each is
 * still in src/).
 */
export const FOREIGN: Record<string, string> = {
  CERT_NOT_YET_VALID: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_REJECTED: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_SIGNATURE_FAILURE: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_UNTRUSTED: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  CERT_HAS_EXPIRED: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  SELF_SIGNED_CERT_IN_CHAIN: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UNABLE_TO_GET_ISSUER_CERT: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  ERR_TLS_CERT_ALTNAME_INVALID: 'Node TLS code; src/kube/https-get.ts maps it to KUBE_TLS',
  INVALID_CA: 'OpenSSL verify code; src/kube/https-get.ts maps it to KUBE_TLS',
  UND_ERR_SOCKET: 'undici code; src/transport/errors.ts maps it to NETWORK_ERROR',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH:
    'undici code; src/transport/errors.ts maps it to DOWNLOAD_TRUNCATED',
  ERR_SSL_WRONG_VERSION_NUMBER:
    'OpenSSL code through Node; src/transport/errors.ts maps it to TLS_PLAIN_HTTP_SERVER',
};

/**
 * The project's own codes with no test that names them, each with why. (The slot
 * read-back after the rename failing for real, SLOT_VERIFY_FAILED with phase
 * `readback` for the kernel and initramfs, is proved by the rewrite of the slot write
 * path, not here; the code itself is already asserted, so it needs no entry.) An entry here
 * that a test asserts fails the record check, and one whose code leaves src/reason-codes.ts fails
 * to compile, so the list only shrinks.
 */
export const UNTESTED: { readonly [K in ReasonCode]?: string } = {
  HASH_WORKER_FAILED:
    'src/crypto/sha512-worker.ts: the SHA-512 worker thread crashing or exiting; a test would have to kill a worker thread inside the process under test',
  CONFIG_INVALID:
    'src/cloudinit/apply.ts: the fallback when the merged update.conf fails to parse with something other than a KubesoloError; parseConfig throws only KubesoloErrors, whose own codes are kept and tested (test/cloudinit)',
  SELF_CHECK_FAILED:
    'src/release/publish.ts: a signature that does not verify with the key that just made it; needs a broken Ed25519 signer (node:crypto), which a test cannot substitute in the real publish',
};

/**
 * Codes documented with two exits, one per side of the contract: the exits a test may
 * assert them with. Any other code asserted with two exit codes fails the check (a code
 * names one outcome).
 */
export const TWO_EXITS: { readonly [K in ReasonCode]?: readonly [number, number] } = {
  // docs/formats.md "Versions": a version in metadata the device reads is a
  // verification error (4); one the operator types (mark-bad VERSION, publish
  // --release-version, which runs the device's parser first) is a usage error (2).
  INVALID_VERSION: [2, 4],
};
