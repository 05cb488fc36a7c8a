/**
 * The gates an update must pass (docs/design.md §2), as pure functions returning a verdict.
 * `check` reports every verdict; `apply` stops at the first refusal. One shared set of
 * gates serves both the HTTP and the OCI source.
 */
import { formatLocalTime, isWithinWindow, parseMaintenanceWindow } from '../config/window.js';
import { compareVersions } from '../config/version.js';

export type GateName =
  | 'maintenance_window'
  | 'channel'
  | 'architecture'
  | 'min_compatible_version'
  | 'version'
  | 'free_space'
  | 'node_block';

export interface GateVerdict {
  gate: GateName;
  /** false: the update is refused by this gate. */
  pass: boolean;
  /** Stable reason code of a refusal (or of a notable pass such as UP_TO_DATE). */
  code?: string;
  message: string;
  /** true when the gate did not apply (not configured, forced, no data). */
  skipped?: boolean;
}

export { goArch } from '../arch.js';

/**
 * The window is read on the wall clock of `timeZone` (`time_zone` or the host's
 * /etc/localtime, src/config/time-zone.ts); undefined: the process's local time.
 */
export function maintenanceWindowGate(
  window: string | undefined,
  now: Date,
  force: boolean,
  timeZone?: string,
): GateVerdict {
  const gate = 'maintenance_window';
  if (force) return { gate, pass: true, skipped: true, message: 'skipped (--force)' };
  const parsed = parseMaintenanceWindow(window);
  if (!parsed)
    return { gate, pass: true, skipped: true, message: 'no window configured (always open)' };
  const zone = timeZone ?? 'local time';
  const clock = `${formatLocalTime(now, timeZone)} ${zone}`;
  if (isWithinWindow(parsed, now, timeZone))
    return { gate, pass: true, message: `inside window ${window} (${clock})` };
  return {
    gate,
    pass: false,
    code: 'OUTSIDE_MAINTENANCE_WINDOW',
    message: `outside maintenance window ${window} (${clock})`,
  };
}

export function channelGate(
  configured: string | undefined,
  offered: string | undefined,
): GateVerdict {
  const gate = 'channel';
  // docs/design.md §2 / issue: the channel gate applies when both sides name a channel.
  if (!configured || !offered) {
    return { gate, pass: true, skipped: true, message: 'channel not set on both sides' };
  }
  if (configured === offered) return { gate, pass: true, message: `channel ${offered}` };
  return {
    gate,
    pass: false,
    code: 'CHANNEL_MISMATCH',
    message: `release is for channel ${offered}, device follows ${configured}`,
  };
}

export function architectureGate(host: string, offered: string | undefined): GateVerdict {
  const gate = 'architecture';
  if (!offered)
    return { gate, pass: true, skipped: true, message: 'release names no architecture' };
  if (offered === host) return { gate, pass: true, message: `architecture ${host}` };
  return {
    gate,
    pass: false,
    code: 'ARCH_MISMATCH',
    message: `release is for ${offered}, device is ${host}`,
  };
}

export function minCompatibleVersionGate(
  running: string,
  minCompatible: string | undefined,
): GateVerdict {
  const gate = 'min_compatible_version';
  if (!minCompatible) {
    return { gate, pass: true, skipped: true, message: 'release sets no minimum version' };
  }
  if (compareVersions(running, minCompatible) >= 0) {
    return { gate, pass: true, message: `running ${running} >= minimum ${minCompatible}` };
  }
  return {
    gate,
    pass: false,
    code: 'VERSION_INCOMPATIBLE',
    message: `running ${running} is older than the release's minimum compatible version ${minCompatible}`,
  };
}

/** Equal versions pass with code UP_TO_DATE: nothing to do (exit 0). */
export function versionGate(
  running: string,
  offered: string,
  allowDowngrade: boolean,
): GateVerdict {
  const gate = 'version';
  const order = compareVersions(offered, running);
  if (order > 0) return { gate, pass: true, message: `${running} → ${offered}` };
  if (order === 0) {
    return { gate, pass: true, code: 'UP_TO_DATE', message: `already running ${running}` };
  }
  if (allowDowngrade) {
    return { gate, pass: true, message: `downgrade ${running} → ${offered} (--allow-downgrade)` };
  }
  return {
    gate,
    pass: false,
    code: 'DOWNGRADE_REFUSED',
    message: `release ${offered} is older than running ${running} (use --allow-downgrade)`,
  };
}

/** docs/design.md §2: free space for the image plus 10 %. */
export function requiredSpace(imageBytes: number): number {
  return Math.ceil(imageBytes * 1.1);
}

export function freeSpaceGate(
  what: string,
  freeBytes: number,
  imageBytes: number | undefined,
): GateVerdict {
  const gate = 'free_space';
  if (imageBytes === undefined) {
    return {
      gate,
      pass: true,
      skipped: true,
      message: `image size unknown; ${what} checked after download`,
    };
  }
  const need = requiredSpace(imageBytes);
  if (freeBytes >= need) {
    return { gate, pass: true, message: `${what}: ${freeBytes} bytes free, ${need} needed` };
  }
  return {
    gate,
    pass: false,
    code: 'INSUFFICIENT_SPACE',
    message: `${what}: ${freeBytes} bytes free, ${need} needed (image + 10 %)`,
  };
}

export type NodeBlockInput =
  | { kind: 'forced' }
  | { kind: 'no-kubeconfig' }
  | { kind: 'unreachable'; error: string }
  | { kind: 'checked'; blockedNodes: string[] };

export const NODE_BLOCK_LABEL = 'updates.kubesolo.io/block';

export function nodeBlockGate(input: NodeBlockInput): GateVerdict {
  const gate = 'node_block';
  switch (input.kind) {
    case 'forced':
      return { gate, pass: true, skipped: true, message: 'skipped (--force)' };
    case 'no-kubeconfig':
      return { gate, pass: true, skipped: true, message: 'no kubeconfig; node label not checked' };
    case 'unreachable':
      return {
        gate,
        pass: true,
        skipped: true,
        message: `Kubernetes API unreachable (${input.error}); node label not checked`,
      };
    case 'checked':
      if (input.blockedNodes.length === 0) {
        return { gate, pass: true, message: `no node labelled ${NODE_BLOCK_LABEL}=true` };
      }
      return {
        gate,
        pass: false,
        code: 'NODE_UPDATE_BLOCKED',
        message: `node ${input.blockedNodes.join(', ')} is labelled ${NODE_BLOCK_LABEL}=true`,
      };
  }
}
