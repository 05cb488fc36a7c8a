/**
 * Every stable reason code of the project (docs/design.md §3.7), one list per folder of
 * src/ (as sigstore-js keeps one error-code union per layer). The codes are a public
 * contract: logs, state.json, `--json` output, metrics labels and operators' scripts
 * read them, so a code is never renamed, only added.
 *
 * `ReasonCode`, the union of all lists, is what `KubesoloError.code` and its subclasses
 * take, so a misspelt code at a throw site is a compile error; the health verdicts, the
 * gates' verdicts and the `code` fields written to JSON are typed from the same lists,
 * and LIFECYCLE_REASONS (src/agent/reasons.ts) is a checked subset.
 *
 * A code sits in exactly one list: the folder that owns its meaning, normally the
 * lowest one that throws or reports it; higher folders reuse it (this file is layer 0,
 * so any folder may). test/unit/reason-codes.test.ts checks that no code is in two lists.
 * Codes of others that the source recognises (OpenSSL, Node, undici: CERT_HAS_EXPIRED,
 * UND_ERR_SOCKET, ...) are not reason codes and are not listed here.
 */

/** The Kubernetes API client's call failures (`KubeError`); also health-check reasons. */
const KUBE_CLIENT_CODES = [
  /** Connection refused, reset, no route, DNS failure: nothing answered. */
  'KUBE_UNREACHABLE',
  /** The call did not complete within its timeout. */
  'KUBE_TIMEOUT',
  /** The server's certificate did not verify against the kubeconfig's CA, or TLS failed. */
  'KUBE_TLS',
  /** The server refused our credentials: HTTP 401/403, or a TLS alert about our client certificate. */
  'KUBE_AUTH',
  /** HTTP 404 for a named object. */
  'KUBE_NOT_FOUND',
  /** Any other non-2xx status. */
  'KUBE_HTTP_STATUS',
  /** A 2xx answer that is not the JSON object asked for. */
  'KUBE_BAD_RESPONSE',
  /** A body larger than the client accepts. */
  'KUBE_RESPONSE_TOO_LARGE',
] as const;
export type KubeClientReasonCode = (typeof KUBE_CLIENT_CODES)[number];

/** src/errors.ts and every command: the fallbacks and the command-line usage. */
const BASE_CODES = ['INTERRUPTED', 'UNEXPECTED', 'USAGE'] as const;
export type BaseReasonCode = (typeof BASE_CODES)[number];

/** src/fs/: control files, and the errno failures the command line explains (src/cli/explain.ts). */
const FS_CODES = [
  'CONTROL_FILE_NOT_REGULAR',
  'CONTROL_FILE_TOO_LARGE',
  'PATH_NOT_FOUND',
  'PERMISSION_DENIED',
  'READ_ONLY_FILESYSTEM',
] as const;
export type FsReasonCode = (typeof FS_CODES)[number];

/** src/bootenv/: GRUB and U-Boot environments, autoboot.txt, the kernel command line. */
const BOOTENV_CODES = [
  'AUTOBOOT_INVALID',
  'AUTOBOOT_READ_FAILED',
  'AUTOBOOT_WRITE_FAILED',
  'CMDLINE_READ_FAILED',
  'GRUBENV_CORRUPT',
  'GRUBENV_INVALID_KEY',
  'GRUBENV_INVALID_VALUE',
  'GRUBENV_READ_FAILED',
  'GRUBENV_TOO_LARGE',
  'GRUBENV_WRITE_FAILED',
  'UBOOTENV_CONFIG_INVALID',
  'UBOOTENV_CORRUPT',
  'UBOOTENV_INVALID_KEY',
  'UBOOTENV_INVALID_VALUE',
  'UBOOTENV_READ_FAILED',
  'UBOOTENV_TOO_LARGE',
  'UBOOTENV_WRITE_FAILED',
] as const;
export type BootenvReasonCode = (typeof BOOTENV_CODES)[number];

/** src/crypto/: keys, signatures, the hashing worker. */
const CRYPTO_CODES = [
  'HASH_WORKER_CLOSED',
  'HASH_WORKER_FAILED',
  'PUBKEY_EMPTY',
  'PUBKEY_INVALID',
  'PUBKEY_UNREADABLE',
  'SIGNATURE_MALFORMED',
] as const;
export type CryptoReasonCode = (typeof CRYPTO_CODES)[number];

/** src/fleet/: the device's identifier. */
const FLEET_CODES = ['DEVICE_ID_UNREADABLE', 'DEVICE_ID_WRITE_FAILED'] as const;
export type FleetReasonCode = (typeof FLEET_CODES)[number];

/** src/kube/: where the configuration comes from, and the API client (KUBE_CLIENT_CODES). */
const KUBE_CODES = [
  ...KUBE_CLIENT_CODES,
  'KUBECONFIG_INVALID',
  'KUBECONFIG_NOT_FOUND',
  'KUBE_TOKEN_UNREADABLE',
] as const;
export type KubeReasonCode = (typeof KUBE_CODES)[number];

/** src/config/: update.conf, its values, versions, windows, time zones. */
const CONFIG_CODES = [
  'CONFIG_CONTROL_CHARACTER',
  'CONFIG_INVALID',
  'CONFIG_INVALID_VALUE',
  'CONFIG_MISSING_KEY',
  'CONFIG_SYNTAX',
  'CONFIG_UNKNOWN_KEY',
  'CONFIG_UNREADABLE',
  'INVALID_VERSION',
  'MAINTENANCE_WINDOW_INVALID',
  'TIME_ZONE_INVALID',
  'TIME_ZONE_UNKNOWN',
] as const;
export type ConfigReasonCode = (typeof CONFIG_CODES)[number];

/** src/metadata/: latest.json's parser. */
const METADATA_CODES = [
  'METADATA_EXPIRED',
  'METADATA_FIELD_INVALID',
  'METADATA_FIELD_MISSING',
  'METADATA_MALFORMED',
  'METADATA_TOO_LARGE',
] as const;
export type MetadataReasonCode = (typeof METADATA_CODES)[number];

/** src/slots/: the slot stores. */
const SLOTS_CODES = [
  'SLOT_ALIASED',
  'SLOT_CHECKPOINT_FAILED',
  'SLOT_CHECKPOINT_SKIPPED',
  'SLOT_CHECKPOINT_UNAVAILABLE',
  'SLOT_DIR_OVERLAPS',
  'SLOT_IDENTITY_FAILED',
  'SLOT_INVALID_VERSION',
  'SLOT_LABEL_AMBIGUOUS',
  'SLOT_MOUNT_FAILED',
  'SLOT_NOT_FOUND',
  'SLOT_NO_SPACE',
  'SLOT_OUTSIDE_ROOT',
  'SLOT_READ_FAILED',
  'SLOT_REPAIR_FAILED',
  'SLOT_THAW_FAILED',
  'SLOT_TOOL_FAILED',
  'SLOT_UMOUNT_FAILED',
  'SLOT_VERIFY_FAILED',
  'SLOT_WRITE_FAILED',
] as const;
export type SlotsReasonCode = (typeof SLOTS_CODES)[number];

/** src/trust/: the trust decision and its refusals. */
const TRUST_CODES = ['PUBKEY_REQUIRED', 'SIGNATURE_INVALID', 'SIGNATURE_MISSING'] as const;
export type TrustReasonCode = (typeof TRUST_CODES)[number];

/** src/health/: the health checks' verdict reasons (also reported, not only thrown), and the verdict. */
const HEALTH_CODES = [
  'APISERVER_NOT_READY',
  'CHECK_TIMEOUT',
  'CONTAINERD_GRPC_ERROR',
  'CONTAINERD_PROTOCOL',
  'CONTAINERD_TIMEOUT',
  'CONTAINERD_UNREACHABLE',
  'DISK_NOT_WRITABLE',
  'DISK_READBACK_MISMATCH',
  'HEALTH_CHECK_FAILED',
  'HEALTH_CHECK_UNKNOWN',
  'KUBE_SYSTEM_EMPTY',
  'KUBE_SYSTEM_NOT_STABLE',
  'KUBE_SYSTEM_POD_NOT_READY',
  'KUBE_SYSTEM_POD_NOT_RUNNING',
  'NODE_NOT_FOUND',
  'NODE_NOT_READY',
  'NOT_CONFIGURED',
  'NOT_REQUIRED',
  'OK',
  'PROBE_HTTP_STATUS',
  'PROBE_TIMEOUT',
  'PROBE_TOO_MANY_REDIRECTS',
  'PROBE_UNREACHABLE',
  'PROBE_URL_INVALID',
] as const;
export type HealthReasonCode = (typeof HEALTH_CODES)[number];

/** src/transport/: HTTP, downloads, OCI registries, delta updates (TransportCode names some of them). */
const TRANSPORT_CODES = [
  'BAD_REDIRECT',
  'CA_FILE_INVALID',
  'CA_FILE_UNREADABLE',
  'DELTA_INDEX_INVALID',
  'DELTA_INDEX_MISMATCH',
  'DELTA_INDEX_UNAVAILABLE',
  'DELTA_NOTHING_HELD',
  'DELTA_PIECE_MISMATCH',
  'DELTA_RANGE_MISMATCH',
  'DELTA_RANGE_UNSUPPORTED',
  'DELTA_SEED_NOT_INDEXED',
  'DOWNLOAD_ABORTED',
  'DOWNLOAD_SIZE_MISMATCH',
  'DOWNLOAD_TIMEOUT',
  'DOWNLOAD_TOO_LARGE',
  'DOWNLOAD_TOO_SLOW',
  'DOWNLOAD_TRUNCATED',
  'HASH_MISMATCH',
  'HTTP_STATUS',
  'INPUT_UNREADABLE',
  'INVALID_REGISTRY_REFERENCE',
  'NETWORK_ERROR',
  'NO_DELTA_INDEX',
  'OCI_BLOB_NOT_FOUND',
  'OCI_DIGEST_MISMATCH',
  'OCI_MANIFEST_INVALID',
  'OCI_MANIFEST_NOT_FOUND',
  'OCI_MANIFEST_TOO_LARGE',
  'OCI_METADATA_MISMATCH',
  'REGISTRY_AUTH_FAILED',
  'REGISTRY_AUTH_FAILED_UPSTREAM',
  'REGISTRY_AUTH_FILE_INVALID',
  'REGISTRY_AUTH_REQUIRED',
  'REGISTRY_AUTH_UNSUPPORTED',
  'REGISTRY_CREDENTIALS_INCOMPLETE',
  'REGISTRY_DENIED',
  'REGISTRY_ERROR',
  'REGISTRY_TAG_REQUIRED',
  'REGISTRY_UNREACHABLE',
  'REPACK_DUPLICATE_PATH',
  'REPACK_FAILED',
  'REPACK_HARDLINK_UNSUPPORTED',
  'REPACK_INPUT_UNSUPPORTED',
  'REPACK_NOT_EQUIVALENT',
  'REPACK_OPTION_INVALID',
  'SERVER_URL_INVALID',
  'SIZE_LIMIT_EXCEEDED',
  'STAGING_IO_ERROR',
  'TLS_PLAIN_HTTP_SERVER',
  'TOO_MANY_REDIRECTS',
] as const;
export type TransportReasonCode = (typeof TRANSPORT_CODES)[number];

/** src/stores/: the device's own records and the run lock. */
const STORES_CODES = [
  'FLOOR_CORRUPT',
  'FLOOR_WRITE_FAILED',
  'HOLD_CORRUPT',
  'HOLD_WRITE_FAILED',
  'INVALID_TRANSITION',
  'LOCKED',
  'LOCK_FAILED',
  'RELEASES_CORRUPT',
  'RELEASES_WRITE_FAILED',
  'STATE_CORRUPT',
  'STATE_NO_SPACE',
  'STATE_READ_FAILED',
  'STATE_READ_ONLY',
  'STATE_WRITE_FAILED',
] as const;
export type StoresReasonCode = (typeof STORES_CODES)[number];

/** src/gates/: gate refusals and notable passes. */
const GATES_CODES = [
  'ARCH_MISMATCH',
  'BELOW_FLOOR',
  'BOARD_IDENTITY_INVALID',
  'BOARD_INCOMPATIBLE',
  'BOARD_UNKNOWN',
  'CHANNEL_MISMATCH',
  'DOWNGRADE_REFUSED',
  'GATE_REFUSED',
  'HELD',
  'INSUFFICIENT_SPACE',
  'MAINTENANCE_WINDOW_ENDING',
  'NODE_UPDATE_BLOCKED',
  'OUTSIDE_MAINTENANCE_WINDOW',
  'QUARANTINED',
  'ROLLBACK_PENDING',
  'ROLLOUT_NOT_OPEN',
  'ROLLOUT_PAUSED',
  'RUNNING_SLOT_UNKNOWN',
  'RUNNING_VERSION_UNKNOWN',
  'UP_TO_DATE',
  'VERIFICATION_BACKOFF',
  'VERSION_INCOMPATIBLE',
] as const;
export type GatesReasonCode = (typeof GATES_CODES)[number];

/** src/metrics/: the metrics endpoint. */
const METRICS_CODES = ['METRICS_TOKEN_UNREADABLE'] as const;
export type MetricsReasonCode = (typeof METRICS_CODES)[number];

/** src/release/: the publisher's tool. */
const RELEASE_CODES = [
  'FILE_UNREADABLE',
  'INVALID_ARCH',
  'INVALID_BASE_URL',
  'INVALID_CHANNEL',
  'INVALID_CHUNK_SIZE',
  'INVALID_DURATION',
  'INVALID_LISTEN',
  'INVALID_TAG',
  'KEY_EXISTS',
  'KEY_INVALID',
  'KEY_NOT_ED25519',
  'KEY_UNREADABLE',
  'KEY_WRITE_FAILED',
  'LISTEN_FAILED',
  'OCI_NO_METADATA_LAYER',
  'OCI_TAG_CONFLICT',
  'PUBLISH_FAILED',
  'SELF_CHECK_FAILED',
  'SERVE_DIR_MISSING',
  'SIGNATURE_WRITE_FAILED',
  'VERIFY_TARGET_INVALID',
  'VERSION_EXISTS',
] as const;
export type ReleaseReasonCode = (typeof RELEASE_CODES)[number];

/** src/cloudinit/: the `updates:` block. */
const CLOUDINIT_CODES = [
  'CLOUDINIT_INVALID_BLOCK',
  'CLOUDINIT_INVALID_VALUE',
  'CLOUDINIT_NOT_A_MAPPING',
  'CLOUDINIT_UNREADABLE',
  'CLOUDINIT_WRITE_FAILED',
  'CLOUDINIT_YAML_AMBIGUOUS',
  'CLOUDINIT_YAML_INVALID',
  'DUPLICATE_KEY',
] as const;
export type CloudinitReasonCode = (typeof CLOUDINIT_CODES)[number];

/** src/dev/: the simulated device. */
const DEV_CODES = ['DEVICE_ROOT_NOT_EMPTY'] as const;
export type DevReasonCode = (typeof DEV_CODES)[number];

/** src/agent/: the lifecycle, its recorded outcomes, the context and the reboot. */
const AGENT_CODES = [
  'ACTIVATION_DEFERRED',
  'ACTIVATION_PENDING',
  'ACTIVATION_RECOVERED',
  'BELOW_FLOOR_ROLLBACK',
  'BOOTENV_NOT_SETTLED',
  'BOOT_FALLBACK',
  'CONFLICTING_OPTIONS',
  'MANUAL_ROLLBACK',
  'MARKED_BAD',
  'NOTHING_ON_TRIAL',
  'NOTHING_STAGED',
  'NOT_A_DEVICE',
  'NOT_QUARANTINED',
  'NO_ROLLBACK_TARGET',
  'NO_UPDATE_SOURCE',
  'REBOOT_ARGUMENT_UNSUPPORTED',
  'REBOOT_FAILED',
  'ROLLBACK_IMPOSSIBLE',
  'ROLLBACK_UNSAFE',
  'ROOT_NOT_A_DIRECTORY',
  'ROOT_NOT_FOUND',
  'SLOT_VERSION_MISMATCH',
  'STAGED_DIGESTS_MISSING',
  'STAGED_RELEASE_SUPERSEDED',
  'STAGED_SLOT_DAMAGED',
  'TARGET_IS_RUNNING',
  'TRIAL_NOT_RUNNING',
] as const;
export type AgentReasonCode = (typeof AGENT_CODES)[number];

/** src/cli/: flags, arguments and what the commands print. */
const CLI_CODES = [
  'ALREADY_STAGED',
  'INVALID_BOARD',
  'INVALID_DELTA_BASES',
  'INVALID_LOG_LEVEL',
  'INVALID_OPTION',
  'INVALID_PATCH_LEVEL',
  'INVALID_WAVE',
  'METRICS_UNAUTHORIZED',
  'MISSING_ARGUMENT',
  'MISSING_OPTION',
  'REBOOT_REQUIRED',
  'ROLLOUT_PARTIAL',
  'UNKNOWN_ARCHITECTURE',
  'UNKNOWN_COMMAND',
  'UNKNOWN_OPTION',
  'UNKNOWN_PAGE',
] as const;
export type CliReasonCode = (typeof CLI_CODES)[number];
/** Every list by its folder, in the order of the layers (docs/architecture.md). */
export const REASON_CODE_LISTS = {
  base: BASE_CODES,
  fs: FS_CODES,
  bootenv: BOOTENV_CODES,
  crypto: CRYPTO_CODES,
  fleet: FLEET_CODES,
  kube: KUBE_CODES,
  config: CONFIG_CODES,
  metadata: METADATA_CODES,
  slots: SLOTS_CODES,
  trust: TRUST_CODES,
  health: HEALTH_CODES,
  transport: TRANSPORT_CODES,
  stores: STORES_CODES,
  gates: GATES_CODES,
  metrics: METRICS_CODES,
  release: RELEASE_CODES,
  cloudinit: CLOUDINIT_CODES,
  dev: DEV_CODES,
  agent: AGENT_CODES,
  cli: CLI_CODES,
} as const;

/** Every reason code of the project. */
export type ReasonCode = (typeof REASON_CODE_LISTS)[keyof typeof REASON_CODE_LISTS][number];
