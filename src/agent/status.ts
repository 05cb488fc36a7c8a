/**
 * `status`: the boot side and the lifecycle in one report (docs/design.md §3.5). Degraded
 * mode: whatever cannot be read (a corrupt grubenv, an unreadable state.json or slot)
 * is reported as null with an entry in `problems` naming the cause, and everything
 * else is still shown: the operator must be able to look when the device is sick.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseRunningSlot, readCmdline } from '../bootenv/cmdline.js';
import {
  SLOTS,
  type Bootloader,
  type BootEnv,
  type BootState,
  type Slot,
} from '../bootenv/types.js';
import { ExitCode, toKubesoloError } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';
import { LIFECYCLE_REASONS } from './reasons.js';
import type { SlotStore } from '../slots/types.js';
import type { AgentContext, AgentPaths } from './context.js';
import type { Floor } from '../stores/floor.js';
import type { Hold } from '../stores/hold.js';
import { backoffUntil, type ReleaseRecord } from '../stores/releases.js';
import { activationVerdicts } from './lifecycle/activate.js';
import { reconcile } from './lifecycle/reconcile.js';
import { toFileShape, type UpdateState } from '../stores/state.js';

export interface StatusProblem {
  /** What could not be read: grubenv (uboot-env, autoboot.txt), state, slot A, slot B. */
  source: string;
  code: ReasonCode;
  message: string;
}

export interface StatusReport {
  /** The bootloader whose environment the boot fields come from (update.conf `bootloader`). */
  bootloader: Bootloader;
  active_slot: Slot | null;
  passive_slot: Slot | null;
  running_slot: Slot | null;
  boot_counter: number | null;
  boot_success: boolean | null;
  slots: Record<Slot, { version: string | null }>;
  state: Record<string, unknown> | null;
  /**
   * The anti-rollback floor (docs/operating.md "The anti-rollback floor"): apply refuses
   * releases below `version`. null when none was recorded or it cannot be read (then a
   * problem names why).
   */
  floor: { version: string; source: string; set_at: string; release?: string } | null;
  /** The operator's hold (docs/operating.md "Operator controls"); null when not held. */
  held: { reason: string | null; since: string } | null;
  /** Releases apply refuses (docs/operating.md "Failed releases"), oldest first. */
  quarantined: QuarantineView[];
  /** Releases whose images failed verification in a row, while the run lasts. */
  backoff: BackoffView[];
  /**
   * A staged update: when it activates (`now`: the window is open or there is none;
   * `next_window`: the next time the window opens with enough of it left). Null when
   * nothing is staged.
   */
  activation: {
    when: 'now' | 'next_window';
    window: string | null;
    time_zone: string | null;
  } | null;
  problems: StatusProblem[];
}

export interface QuarantineView {
  version: string;
  /** Pinned SHA-256 of each image; null: every release of the version. */
  images: { vmlinuz: string; initramfs: string } | null;
  reason: string;
  at: string;
}

export interface BackoffView {
  version: string;
  code: string;
  failures: number;
  last_at: string;
  /** RFC 3339; null while fewer failures than the back-off needs. */
  next_try_at: string | null;
}

/** The release records as status shows them: what is quarantined, what backs off. */
function memoryViews(
  records: readonly ReleaseRecord[],
): Pick<StatusReport, 'quarantined' | 'backoff'> {
  return {
    quarantined: records.flatMap((r) =>
      r.quarantined === undefined
        ? []
        : [
            {
              version: r.version,
              images: r.images ? { ...r.images } : null,
              reason: r.quarantined.reason,
              at: r.quarantined.at,
            },
          ],
    ),
    backoff: records.flatMap((r) =>
      r.verification === undefined
        ? []
        : [
            {
              version: r.version,
              code: r.verification.code,
              failures: r.verification.failures,
              last_at: r.verification.lastAt,
              next_try_at: backoffUntil(r)?.toISOString() ?? null,
            },
          ],
    ),
  };
}

function statusProblem(source: string, err: unknown): StatusProblem {
  const e = toKubesoloError(err);
  return { source, code: e.code, message: e.message };
}

export interface StatusInputs {
  bootloader: Bootloader;
  /** undefined when the boot environment could not be read (see problems). */
  boot: BootState | undefined;
  runningSlot: Slot | undefined;
  state: UpdateState | undefined;
  floor?: Floor | undefined;
  hold?: Hold | undefined;
  releases?: readonly ReleaseRecord[] | undefined;
  activation?: StatusReport['activation'];
  problems: StatusProblem[];
}

async function buildStatus(input: StatusInputs, slots: SlotStore): Promise<StatusReport> {
  const problems = [...input.problems];
  const versions = await Promise.all(
    SLOTS.map((s) =>
      slots.readVersion(s).catch((err: unknown) => {
        problems.push(statusProblem(`slot ${s}`, err));
        return undefined;
      }),
    ),
  );
  const { boot } = input;
  return {
    bootloader: input.bootloader,
    active_slot: boot?.activeSlot ?? null,
    passive_slot: boot?.passiveSlot ?? null,
    running_slot: input.runningSlot ?? null,
    boot_counter: boot?.bootCounter ?? null,
    boot_success: boot?.bootSuccess ?? null,
    slots: { A: { version: versions[0] ?? null }, B: { version: versions[1] ?? null } },
    state: input.state ? toFileShape(input.state) : null,
    floor: input.floor
      ? {
          version: input.floor.version,
          source: input.floor.source,
          set_at: input.floor.setAt,
          ...(input.floor.release !== undefined ? { release: input.floor.release } : {}),
        }
      : null,
    held: input.hold ? { reason: input.hold.reason ?? null, since: input.hold.since } : null,
    ...memoryViews(input.releases ?? []),
    activation: input.activation ?? null,
    problems,
  };
}

/** The name of a bootloader's store in `problems` (`source`). */
function bootEnvSource(bootEnv: BootEnv): string {
  return { grub: 'grubenv', uboot: 'uboot-env', 'rpi-tryboot': 'autoboot.txt' }[bootEnv.bootloader];
}

/**
 * A device has update.conf, a boot environment (grubenv, fw_env.config, autoboot.txt),
 * or `kubesolo.slot=` on its kernel command line. With none of them, --root points at
 * the wrong directory (or this is not a device) and everything status would print is a
 * default, not a fact.
 */
function looksLikeDevice(paths: AgentPaths, bootEnv: BootEnv): boolean {
  if (existsSync(paths.config) || existsSync(bootEnv.store)) return true;
  try {
    return /(^|\s)kubesolo\.slot=/.test(readFileSync(paths.cmdline, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Read what can be read. Both sides readable: the reconciled view (a boot fallback is
 * shown as it will be recorded, without writing: status takes no lock and writes
 * nothing, so it works on a read-only or full state partition). Otherwise each side on
 * its own, and a problem for the other.
 */
async function gather(agent: AgentContext): Promise<StatusInputs> {
  const { deps, paths } = agent;
  const bootloader = deps.bootEnv.bootloader;
  try {
    const { state, boot } = await reconcile(deps, 'none');
    return { bootloader, state, boot, runningSlot: boot.runningSlot, problems: [] };
  } catch {
    // Fall through: find out which side failed.
  }
  const problems: StatusProblem[] = [];
  const state = await deps.state.read().then(
    (r) => r.state,
    (err: unknown) => void problems.push(statusProblem('state', err)),
  );
  const boot = await deps.bootEnv.read().then(
    (b) => b,
    (err: unknown) => void problems.push(statusProblem(bootEnvSource(deps.bootEnv), err)),
  );
  // The running slot comes from the kernel command line, not the GRUB environment.
  const cmdline = boot ? undefined : await readCmdline(paths.cmdline).catch(() => undefined);
  const runningSlot = boot?.runningSlot ?? (cmdline ? parseRunningSlot(cmdline) : undefined);
  return { bootloader, state: state ?? undefined, boot: boot ?? undefined, runningSlot, problems };
}

/**
 * `status` on a device: everything readable, with a warning first when --root does
 * not look like a device (what follows would be defaults, not facts).
 */
export async function deviceStatus(agent: AgentContext): Promise<StatusReport> {
  const { paths, deps } = agent;
  if (!looksLikeDevice(paths, deps.bootEnv)) {
    const message = `${paths.root} does not look like a KubeSolo OS device: no update.conf, no ${bootEnvSource(deps.bootEnv)}, no kubesolo.slot= on the kernel command line; what follows are defaults. Pass --root DIR for a device's root, or create a simulated one with 'kubesolo-update dev init-root DIR'.`;
    deps.log.warn(message, { code: 'NOT_A_DEVICE', root: paths.root });
  }
  const input = await gather(agent);
  const floor = await deps.fleet.readFloor().catch((err: unknown) => {
    input.problems.push(statusProblem('floor', err));
    return undefined;
  });
  const hold = await deps.fleet.readHold();
  if (hold?.problem) input.problems.push({ source: 'hold', ...hold.problem });
  const releases = await deps.fleet.releases.read().catch((err: unknown) => {
    input.problems.push(statusProblem('releases', err));
    return undefined;
  });
  const activation =
    input.state?.phase === 'staged' ? await whenActivates(agent, input.boot) : undefined;
  return buildStatus({ ...input, floor, hold, releases, activation }, deps.slots);
}

/** A staged update activates now, or when the window next opens with enough of it left. */
async function whenActivates(
  agent: AgentContext,
  boot: BootState | undefined,
): Promise<NonNullable<StatusReport['activation']>> {
  const { policy } = agent.deps;
  const open = (await activationVerdicts(agent.deps, boot)).every((v) => v.pass);
  return {
    when: open ? 'now' : 'next_window',
    window: policy.maintenanceWindow ?? null,
    time_zone: policy.timeZone ?? null,
  };
}

/**
 * The phase as people read it. A gate's refusal (exit 3: held, outside the window, a
 * wave not yet open, ...) is recorded as the phase `failed` with its reason, and
 * `--json` keeps that contract; an operator reading "failed" after their own `hold`
 * would look for something broken, so the text says `refused`.
 */
function phaseForPeople(phase: string, reason: string): string {
  const refused =
    phase === 'failed' &&
    (LIFECYCLE_REASONS as Record<string, number | null>)[reason] === ExitCode.REFUSED;
  return refused ? 'refused (see Reason)' : phase;
}

/** The human view of a status report. */
export function formatStatus(r: StatusReport): string[] {
  const field = (key: string): string => {
    const v = r.state?.[key];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
  };
  const mark = (slot: Slot) =>
    [slot === r.running_slot ? 'running' : '', slot === r.active_slot ? 'active' : '']
      .filter(Boolean)
      .join(', ');
  const lines = [
    'Slots:',
    ...SLOTS.map((slot) =>
      `  ${slot}  ${(r.slots[slot].version ?? '(empty)').padEnd(14)} ${mark(slot) ? `(${mark(slot)})` : ''}`.trimEnd(),
    ),
    r.active_slot === null
      ? `Boot:      ${r.bootloader}: unreadable, running ${r.running_slot ?? 'unknown'}`
      : `Boot:      ${r.bootloader}: active ${r.active_slot}, running ${r.running_slot ?? 'unknown'}, ` +
        `counter ${r.boot_counter ?? '?'}, ${r.boot_success ? 'committed' : 'on trial (not yet committed)'}`,
    `Update:    ${r.state === null ? 'unreadable' : phaseForPeople(field('phase'), field('reason'))}` +
      (field('to_version')
        ? ` (${field('from_version') || '?'} → ${field('to_version')}, slot ${field('target_slot') || '?'})`
        : ''),
  ];
  if (field('reason')) {
    lines.push(
      `Reason:    ${field('reason')}${field('last_error') ? `: ${field('last_error')}` : ''}`,
    );
  }
  lines.push(
    `Attempts:  ${field('attempt_count')}, health check failures: ${field('health_check_failures')}`,
  );
  if (field('updated_at')) lines.push(`Updated:   ${field('updated_at')}`);
  if (r.activation) {
    lines.push(
      r.activation.when === 'now'
        ? `Activates: now (activate, or the next scheduled apply --activate)`
        : `Activates: in the next maintenance window ${r.activation.window ?? ''} (${r.activation.time_zone ?? 'local time'})`,
    );
  }
  if (r.held)
    lines.push(
      `Held:      since ${r.held.since || '?'}${r.held.reason ? `: ${r.held.reason}` : ''} (unhold releases it)`,
    );
  for (const q of r.quarantined) {
    lines.push(
      `Quarantined: ${q.version}${q.images ? '' : ' (every image)'} since ${q.at} (${q.reason}); forget ${q.version} releases it`,
    );
  }
  for (const b of r.backoff) {
    lines.push(
      `Back-off:  ${b.version}: ${b.failures} verification failure(s) in a row (${b.code})${b.next_try_at ? `; next try after ${b.next_try_at}` : ''}`,
    );
  }
  if (r.floor) lines.push(`Floor:     ${r.floor.version} (releases below it are refused)`);
  for (const p of r.problems) lines.push(`Problem:   ${p.source}: ${p.code}: ${p.message}`);
  return lines;
}
