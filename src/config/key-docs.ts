/**
 * What each update.conf key means, in one line: the words of the update.conf(5) manual
 * page (src/cli/update-conf-page.ts), which takes the keys, their order, flags and
 * defaults from the key table itself (./keys.ts, ./merge.ts). The mapped type makes
 * this exhaustive: a key added to the table without a line here is a type error.
 * docs/configuration.md says the same at length.
 */
import type { ConfigField } from './keys.js';

export const KEY_SUMMARIES: { readonly [F in ConfigField]-?: string } = {
  server: 'HTTP(S) URL of the update server (where latest.json is). Not together with registry.',
  registry: 'OCI registry repository to update from instead of server (host[:port]/path).',
  tag: 'OCI tag to follow with registry.',
  channel:
    'Release channel; when both this and the release name a channel they must match (letters, digits, ".", "_", "-").',
  pubkey:
    'Absolute path of the trusted Ed25519 public keys: a file with one key (64 hex characters) per line, or a directory of *.pub files; any one key may sign. Without it nothing is installed unless allow_unsigned=true.',
  maintenanceWindow:
    'HH:MM-HH:MM in time_zone: when an update is activated and the device reboots into it (staging goes on at any time). Unset: always open.',
  healthcheckUrl: 'Extra HTTP(S) URL that must answer 200 in the post-boot health check.',
  autoRollbackAfter: 'Failed health checks (1..100) after which the agent rolls back by itself.',
  grubenv: "Absolute path of GRUB's environment block.",
  slotBackend: 'block: partitions found by label (ext4 or vfat, slot_fs); dir: plain directories.',
  slotFs:
    'With slot_backend=block: ext4 (default) or vfat (Raspberry Pi boot partitions, checked with fsck.fat before each write).',
  slotALabel: "Filesystem label of slot A's partition (block backend).",
  slotBLabel: "Filesystem label of slot B's partition (block backend).",
  slotADir: "Absolute path of slot A's directory (dir backend).",
  slotBDir: "Absolute path of slot B's directory (dir backend).",
  allowUnsignedMetadata:
    'Accept an unsigned latest.json when a key is configured; both images must then be signed.',
  allowUnsigned:
    'With no pubkey: install releases nothing authenticates (labs only). No effect when a key is set.',
  compatible:
    "This device's board, overriding the OS image's /usr/lib/kubesolo/compatible (labs and tests).",
  healthChecks:
    'Comma list of post-boot checks: containerd, apiserver, node_ready, kube_system, probe_url, disk_writable.',
  healthStableSeconds: 'Seconds (0..86400) kube-system pods must have been ready.',
  healthcheckTimeout: 'Seconds (1..86400) the healthcheck command retries before it fails.',
  kubeconfig: 'Absolute path of the kubeconfig (node label gate, health checks).',
  caFile: 'Absolute path of an extra CA bundle (PEM) for HTTPS servers and registries.',
  registryUsername: 'Basic-auth user for the OCI registry.',
  registryPassword: 'Basic-auth password for the OCI registry (never logged).',
  registryAuthFile: 'Absolute path of a Docker-style config.json with registry credentials.',
  timeZone: "IANA zone the maintenance_window is read in. Unset: the host's /etc/localtime.",
  commitDeadline:
    'Seconds after boot (0, or 30 s..24 h: N, Ns, Nm, Nh) by which a trial boot must commit, or the watchdog reboots it; an activation needs this much of the window left.',
  commitWatchdogDevice:
    'Absolute path of a kernel watchdog device kept petted while a trial boot is armed.',
  bootloader: 'grub, uboot or rpi-tryboot: whose A/B boot environment the agent drives.',
  ubootEnvConfig:
    'With bootloader=uboot: absolute path of the fw_env.config that says where the U-Boot environment is.',
  autobootTxt: "With bootloader=rpi-tryboot: absolute path of the firmware's autoboot.txt.",
};
