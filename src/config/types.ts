/**
 * update.conf values (docs/design.md §3.2), typed. The parser (src/config/) fills this from
 * `key=value` lines; keys are snake_case in the file and camelCase here
 * (`auto_rollback_after` → `autoRollbackAfter`). Every key is documented in
 * docs/configuration.md.
 */
export interface UpdateConfig {
  // --- keys of the KubeSolo OS agent (docs/design.md §3.2) ---
  server?: string;
  channel?: string;
  /**
   * Path (resolved under --root) of the trusted Ed25519 public keys: a file with one
   * key per line, or a directory of `*.pub` files (src/crypto/key-set.ts).
   */
  pubkey?: string;
  maintenanceWindow?: string;
  healthcheckUrl?: string;
  autoRollbackAfter?: number;
  registry?: string;
  tag?: string;
  grubenv?: string;
  slotBackend?: 'block' | 'dir';
  /** `slot_fs`: the block slots' filesystem (`vfat`: the Raspberry Pi's boot partitions). */
  slotFs?: 'ext4' | 'vfat';
  slotALabel?: string;
  slotBLabel?: string;
  slotADir?: string;
  slotBDir?: string;
  allowUnsignedMetadata?: boolean;

  // --- ours ---
  /**
   * `allow_unsigned`: install releases no key authenticates when no `pubkey` is set
   * (labs only). Without it and without a key, `apply` refuses (docs/operating.md).
   */
  allowUnsigned?: boolean;
  /**
   * `compatible`: this device's board name, overriding the OS image's board identity file
   * (/usr/lib/kubesolo/compatible); for labs (docs/operating.md "Boards").
   */
  compatible?: string;
  /** `health_checks=containerd,apiserver,node_ready,kube_system,probe_url,disk_writable` */
  healthChecks?: string[];
  /** `health_stable_seconds`: how long kube-system pods must have been ready (default 30). */
  healthStableSeconds?: number;
  /** `healthcheck_timeout`: seconds the healthcheck command retries before failing (default 300). */
  healthcheckTimeout?: number;
  /** `kubeconfig`: path (under --root) of the kubeconfig the agent uses. */
  kubeconfig?: string;
  /** `ca_file`: extra CA bundle (PEM) trusted for HTTPS update servers and registries. */
  caFile?: string;
  /** `registry_username` / `registry_password`: basic credentials for the OCI registry. */
  registryUsername?: string;
  registryPassword?: string;
  /** `registry_auth_file`: docker-style config.json with registry credentials. */
  registryAuthFile?: string;
  /**
   * `commit_deadline`: seconds after boot by which an update trial must be committed,
   * or the OS's watchdog (os/init.d) reboots it (default 900; 0 = off).
   */
  commitDeadline?: number;
  /** `commit_watchdog_device`: kernel watchdog device the boot watchdog pets while armed. */
  commitWatchdogDevice?: string;
  /** `time_zone`: IANA zone of the maintenance window (default: the host's /etc/localtime). */
  timeZone?: string;
  /** `bootloader`: whose A/B boot environment the agent drives (docs/boot.md; default grub). */
  bootloader?: 'grub' | 'uboot' | 'rpi-tryboot';
  /** `uboot_env_config`: the fw_env.config saying where the U-Boot environment is. */
  ubootEnvConfig?: string;
  /** `autoboot_txt`: the Raspberry Pi firmware's autoboot.txt (bootloader=rpi-tryboot). */
  autobootTxt?: string;
}
