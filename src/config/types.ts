/**
 * update.conf values (DESIGN §3.2), typed. The parser (src/config/) fills this from
 * `key=value` lines; keys are snake_case in the file and camelCase here.
 */
export interface UpdateConfig {
  server?: string;
  channel?: string;
  /** Path of the Ed25519 public key file (resolved under --root). */
  pubkey?: string;
  maintenanceWindow?: string;
  healthcheckUrl?: string;
  autoRollbackAfter?: number;
  registry?: string;
  tag?: string;
  grubenv?: string;
  slotBackend?: 'block' | 'dir';
  slotALabel?: string;
  slotBLabel?: string;
  slotADir?: string;
  slotBDir?: string;
  allowUnsignedMetadata?: boolean;
}
