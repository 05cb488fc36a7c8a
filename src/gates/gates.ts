/**
 * The gates an update must pass (docs/design.md §2): each one a pure function returning
 * a verdict, and `GATES`, the one ordered list `check` and `apply` both evaluate
 * (`evaluateGates`). `check` reports every verdict; `apply` stops at the first refusal.
 * One shared set of gates serves both the HTTP and the OCI source.
 */
import { formatBytes } from '../units.js';
import type { BoardIdentity } from '../config/board.js';
import type { Slot } from '../bootenv/types.js';
import {
  formatLocalDateTime,
  formatLocalTime,
  localMinuteOfDay,
  nextWindowOpening,
  parseMaintenanceWindow,
  windowContainsMinute,
  type MaintenanceWindow,
} from '../config/window.js';
import { compareVersions } from '../config/version.js';
import type { ReleaseMetadata } from '../metadata/model.js';
import type { Hold } from '../stores/hold.js';
import type { ReleaseRecord } from '../stores/releases.js';
import { floorGate } from './floor-gate.js';
import { holdGate } from './hold-gate.js';
import { quarantineGate, verificationBackoffGate } from './quarantine-gate.js';
import type { GateName, GateVerdict } from './verdict.js';
import type { ReasonCode } from '../reason-codes.js';
import { rolloutGate } from './rollout-gate.js';

/** The device's update policy the gates read (from update.conf). */
export interface LifecyclePolicy {
  channel: string | undefined;
  maintenanceWindow: string | undefined;
  /** IANA zone the window is read in; undefined: the process's local time. */
  timeZone?: string | undefined;
  /** Go name of this device's architecture. */
  architecture: string;
  /**
   * How much of the window must be left for an activation to start: the trial boot that
   * follows must commit within `commit_deadline` (docs/operating.md "The reboot honours
   * the window"). Seconds.
   */
  activationMarginSeconds: number;
  /** The board this device is (src/config/board.ts). */
  board: BoardIdentity;
}

/**
 * The window gates activation (and so the reboot that follows it): open, and with at
 * least `marginSeconds` of it left, so the trial boot happens inside it. It is read on
 * the wall clock of `timeZone` (`time_zone` or the host's /etc/localtime,
 * src/config/time-zone.ts); undefined: the process's local time.
 */
export function maintenanceWindowGate(
  window: string | undefined,
  now: Date,
  force: boolean,
  timeZone?: string,
  marginSeconds = 0,
): GateVerdict {
  const gate = 'maintenance_window';
  if (force) return { gate, pass: true, skipped: true, message: 'skipped (--force)' };
  const parsed = parseMaintenanceWindow(window);
  if (!parsed)
    return { gate, pass: true, skipped: true, message: 'no window configured (always open)' };
  const zone = timeZone ?? 'local time';
  const clock = `${formatLocalTime(now, timeZone)} ${zone}`;
  const minute = localMinuteOfDay(now, timeZone);
  // Only a refusal says when the window opens next (it walks the clock to find out).
  const next = () => nextOpeningWords(parsed, now, timeZone, marginSeconds);
  if (!windowContainsMinute(parsed, minute)) {
    const { words, facts } = next();
    return {
      gate,
      pass: false,
      code: 'OUTSIDE_MAINTENANCE_WINDOW',
      message: `outside maintenance window ${window} (${clock}); ${words}`,
      ...(facts ? { facts } : {}),
    };
  }
  // Whole minutes to the end, less the seconds already gone of this one.
  const left = ((parsed.end - minute + 1440) % 1440) * 60 - now.getSeconds();
  const leftText = `${Math.floor(left / 60)} min left`;
  if (left < marginSeconds) {
    const { words, facts } = next();
    return {
      gate,
      pass: false,
      code: 'MAINTENANCE_WINDOW_ENDING',
      message: `inside window ${window} (${clock}) but only ${leftText}; an activation needs ${Math.ceil(marginSeconds / 60)} min (commit_deadline), so it waits: ${words}`,
      ...(facts ? { facts } : {}),
    };
  }
  return { gate, pass: true, message: `inside window ${window} (${clock}), ${leftText}` };
}

/**
 * When the window opens next, in words (`next window opens at 2026-12-05 02:00
 * Europe/Berlin`) and as an instant for --json (`next_window_opens_at`, RFC 3339 UTC),
 * or why it never leaves an activation enough time.
 */
function nextOpeningWords(
  w: MaintenanceWindow,
  now: Date,
  timeZone: string | undefined,
  marginSeconds: number,
): { words: string; facts?: Record<string, string> } {
  const at = nextWindowOpening(w, now, timeZone, marginSeconds);
  if (at === undefined) {
    return {
      words: `the window is never open for the ${Math.ceil(marginSeconds / 60)} min an activation needs (commit_deadline): widen maintenance_window or shorten commit_deadline`,
    };
  }
  return {
    words: `next window opens at ${formatLocalDateTime(at, timeZone)} ${timeZone ?? 'local time'}`,
    facts: { next_window_opens_at: at.toISOString() },
  };
}

/** ROLLBACK_PENDING while the bootloader boots a committed other slot next. */
function pendingRollbackGate(slot: Slot | undefined): GateVerdict {
  const gate = 'pending_rollback';
  if (slot === undefined) return { gate, pass: true, message: 'no rollback waiting for a reboot' };
  return {
    gate,
    pass: false,
    code: 'ROLLBACK_PENDING',
    message: `a rollback to slot ${slot} waits for a reboot; reboot first (an update now would undo it)`,
  };
}

/**
 * The three answers of a gate that compares a value the release names with the device's:
 * skipped while it is not named (`unnamed`), passed when they match, refused with `code`.
 */
function matchGate(
  gate: GateName,
  named: boolean,
  matches: boolean,
  words: { unnamed: string; passed: string; code: ReasonCode; refused: string },
): GateVerdict {
  if (!named) return { gate, pass: true, skipped: true, message: words.unnamed };
  if (matches) return { gate, pass: true, message: words.passed };
  return { gate, pass: false, code: words.code, message: words.refused };
}

export function channelGate(
  configured: string | undefined,
  offered: string | undefined,
): GateVerdict {
  // docs/design.md §2 / issue: the channel gate applies when both sides name a channel.
  return matchGate('channel', !!configured && !!offered, configured === offered, {
    unnamed: 'channel not set on both sides',
    passed: `channel ${offered}`,
    code: 'CHANNEL_MISMATCH',
    refused: `release is for channel ${offered}, device follows ${configured}`,
  });
}

export function architectureGate(host: string, offered: string | undefined): GateVerdict {
  return matchGate('architecture', !!offered, offered === host, {
    unnamed: 'release names no architecture',
    passed: `architecture ${host}`,
    code: 'ARCH_MISMATCH',
    refused: `release is for ${offered}, device is ${host}`,
  });
}

/**
 * The board gate (docs/operating.md "Boards"): a release that names boards installs only
 * on those. A device that does not know its board accepts it, with a warning; a device
 * whose identity file is damaged refuses, since it cannot tell. Not passed by --force:
 * another board's image may not boot at all.
 */
export function compatibleGate(
  board: BoardIdentity,
  offered: readonly string[] | undefined,
): GateVerdict {
  const gate = 'compatible';
  if (!offered) return { gate, pass: true, skipped: true, message: 'release names no boards' };
  const list = offered.join(', ');
  switch (board.kind) {
    case 'known':
      if (offered.includes(board.name)) return { gate, pass: true, message: `board ${board.name}` };
      return {
        gate,
        pass: false,
        code: 'BOARD_INCOMPATIBLE',
        message: `release is for ${list}; this device is ${board.name} (${board.source})`,
      };
    case 'missing':
      return {
        gate,
        pass: true,
        warning: true,
        code: 'BOARD_UNKNOWN',
        message: `release is for ${list}; this device does not know its board (no ${board.source}), so it accepts any`,
      };
    case 'invalid':
      return {
        gate,
        pass: false,
        code: 'BOARD_IDENTITY_INVALID',
        message: `release is for ${list}; this device cannot tell its board: ${board.source}: ${board.problem}`,
      };
  }
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
  const facts = { free_bytes: freeBytes, needed_bytes: need };
  const sizes = `${formatBytes(freeBytes)} free, ${formatBytes(need)} needed`;
  if (freeBytes >= need) {
    return { gate, pass: true, message: `${what}: ${sizes}`, facts };
  }
  return {
    gate,
    pass: false,
    code: 'INSUFFICIENT_SPACE',
    message: `${what}: ${sizes} (image + 10 %): free space on the slot, or publish a smaller image`,
    facts,
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

/**
 * When a gate can be evaluated, in `apply`'s order: `device` before any network work,
 * `release` once the verified metadata and the running version are known, `preflight`
 * once the release is known to be newer (an up-to-date device stops before it).
 * `activation` gates only the flip to the staged slot and the reboot after it
 * (`activate`, `apply --activate`): staging goes on outside the window; `check`
 * reports these verdicts as when the update would activate, not as refusals.
 */
export type GateStage = 'device' | 'release' | 'preflight' | 'activation';

export interface DeviceFacts {
  policy: LifecyclePolicy;
  now: Date;
  /** --force: skips the maintenance window, the rollout, quarantine and the node block label. */
  force: boolean;
  /** The operator's hold (src/stores/hold.ts); undefined: not held. */
  hold: Hold | undefined;
  /** The committed slot a rollback boots next, while it waits for the reboot. */
  pendingRollback: Slot | undefined;
}

export interface ReleaseFacts extends DeviceFacts {
  metadata: ReleaseMetadata;
  allowDowngrade: boolean;
  runningSlot: Slot | undefined;
  /** undefined: not known (`check` reports it as the version gate's refusal). */
  runningVersion: string | undefined;
  /** The rollout device identifier; undefined: none yet (src/fleet/device-id.ts). */
  deviceId: string | undefined;
  /** The anti-rollback floor the release is judged against (src/stores/floor.ts). */
  floor: string | undefined;
  /** What the device remembers of releases: quarantine and back-off (src/stores/releases.ts). */
  releases: readonly ReleaseRecord[];
}

export interface PreflightFacts extends ReleaseFacts {
  /** The slot the update is written to; undefined when the running slot is unknown. */
  targetSlot: Slot | undefined;
  freeBytes(slot: Slot): Promise<number>;
  nodeBlock(): Promise<NodeBlockInput>;
}

/** What each stage's gates read: every stage knows what the earlier ones knew. */
export interface GateFacts {
  device: DeviceFacts;
  release: ReleaseFacts;
  preflight: PreflightFacts;
  activation: DeviceFacts;
}

/** One gate: its stage and its verdict; undefined where it does not apply (not listed). */
type GateEntry = {
  [S in GateStage]: {
    stage: S;
    gate: GateName;
    evaluate: (facts: GateFacts[S]) => GateVerdict | undefined | Promise<GateVerdict | undefined>;
  };
}[GateStage];

/** Every image's size added up, when the release declares them all. */
function imageBytesOf(md: ReleaseMetadata): number | undefined {
  let total = 0;
  for (const image of Object.values(md.images)) {
    if (image.size === undefined) return undefined;
    total += image.size;
  }
  return total;
}

/**
 * The gates, in the order they are evaluated and reported (docs/operating.md). A new
 * gate is one entry here; stages must stay in the order device, release, preflight,
 * activation.
 */
export const GATES: readonly GateEntry[] = [
  {
    // An operator's stop, before any network work; --force does not pass it.
    stage: 'device',
    gate: 'hold',
    evaluate: (f) => holdGate(f.hold),
  },
  {
    // A rollback waiting for its reboot is never undone by an update (nor by --force).
    stage: 'device',
    gate: 'pending_rollback',
    evaluate: (f) => pendingRollbackGate(f.pendingRollback),
  },
  {
    // Right after the window: a policy gate like it (--force overrides), read from the
    // signed metadata (docs/operating.md "Rolling a release out in waves").
    stage: 'release',
    gate: 'rollout',
    evaluate: (f) =>
      rolloutGate({
        schedule: f.metadata.rollout,
        version: f.metadata.version,
        runningVersion: f.runningVersion,
        deviceId: f.deviceId,
        paused: f.metadata.paused === true,
        now: f.now,
        force: f.force,
      }),
  },
  {
    stage: 'release',
    gate: 'channel',
    evaluate: (f) => channelGate(f.policy.channel, f.metadata.channel),
  },
  {
    stage: 'release',
    gate: 'architecture',
    evaluate: (f) => architectureGate(f.policy.architecture, f.metadata.architecture),
  },
  {
    stage: 'release',
    gate: 'compatible',
    evaluate: (f) => compatibleGate(f.policy.board, f.metadata.compatible),
  },
  {
    stage: 'release',
    gate: 'min_compatible_version',
    evaluate: (f) =>
      !f.runningVersion
        ? undefined
        : minCompatibleVersionGate(f.runningVersion, f.metadata.minCompatibleVersion),
  },
  {
    stage: 'release',
    gate: 'version',
    evaluate: (f) =>
      !f.runningVersion
        ? runningVersionUnknown(f.runningSlot)
        : versionGate(f.runningVersion, f.metadata.version, f.allowDowngrade),
  },
  {
    // Security, not policy: neither --force nor --allow-downgrade passes it.
    stage: 'release',
    gate: 'floor',
    evaluate: (f) => (!f.runningVersion ? undefined : floorGate(f.floor, f.metadata.version)),
  },
  {
    // docs/operating.md "Failed releases": what failed here is not installed again.
    stage: 'release',
    gate: 'quarantine',
    evaluate: (f) => quarantineGate(f),
  },
  {
    stage: 'release',
    gate: 'verification_backoff',
    evaluate: (f) => verificationBackoffGate(f),
  },
  {
    stage: 'preflight',
    gate: 'free_space',
    // The slot is the only place the image is written (once); checked when sizes are declared.
    evaluate: async (f) =>
      f.targetSlot === undefined
        ? undefined
        : freeSpaceGate(
            `slot ${f.targetSlot}`,
            await f.freeBytes(f.targetSlot),
            imageBytesOf(f.metadata),
          ),
  },
  {
    stage: 'preflight',
    gate: 'node_block',
    evaluate: async (f) => nodeBlockGate(f.force ? { kind: 'forced' } : await f.nodeBlock()),
  },
  {
    // The flip and the reboot happen inside the window, with enough of it left.
    stage: 'activation',
    gate: 'maintenance_window',
    evaluate: (f) =>
      maintenanceWindowGate(
        f.policy.maintenanceWindow,
        f.now,
        f.force,
        f.policy.timeZone,
        f.policy.activationMarginSeconds,
      ),
  },
];

/** `check` on a device whose running version cannot be read: no version to compare. */
function runningVersionUnknown(runningSlot: Slot | undefined): GateVerdict {
  return {
    gate: 'version',
    pass: false,
    code: runningSlot ? 'RUNNING_VERSION_UNKNOWN' : 'RUNNING_SLOT_UNKNOWN',
    message: runningSlot ? `slot ${runningSlot} has no version file` : 'running slot unknown',
  };
}

/**
 * Evaluate every gate of one stage, in order. Every gate of the stage is evaluated
 * even after a refusal (`check` reports them all; `apply` stops at the stage's first
 * refusal, with the stage's lookups already made, as it always has).
 */
export async function evaluateGates<S extends GateStage>(
  stage: S,
  facts: GateFacts[S],
): Promise<GateVerdict[]> {
  const verdicts: GateVerdict[] = [];
  for (const entry of GATES) {
    if (entry.stage !== stage) continue;
    // The entry's stage is `stage`, so it reads exactly GateFacts[S].
    const evaluate = entry.evaluate as (facts: GateFacts[S]) => ReturnType<GateEntry['evaluate']>;
    const verdict = await evaluate(facts);
    if (verdict !== undefined) verdicts.push(verdict);
  }
  return verdicts;
}
