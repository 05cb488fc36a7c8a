/**
 * `activate`: flip the boot environment to the staged slot (docs/operating.md "The reboot
 * honours the window"). Only inside the maintenance window with enough of it left, never
 * while held, and only after the release on offer has been fetched and verified again:
 * an expired, paused, superseded or quarantined release is not activated. `--force`
 * skips the window and that fresh look (not the hold). Every refusal keeps the update
 * staged, with the reason recorded.
 */
import type { BootState } from '../../bootenv/types.js';
import { KubesoloError } from '../../errors.js';
import { evaluateGates, type ReleaseFacts } from '../../gates/gates.js';
import { releaseIdentity } from '../../gates/quarantine-gate.js';
import type { GateVerdict } from '../../gates/verdict.js';
import type { SlotDigests } from '../../slots/types.js';
import { describes } from '../../stores/releases.js';
import { stagedDigests, type UpdateState } from '../../stores/state.js';
import type { AgentDeps } from '../deps.js';
import { lifecycleError } from '../reasons.js';
import { attemptIdentity, rememberOutcome } from './memory.js';
import { reconcile } from './reconcile.js';
import { deviceFacts, failWith, fleetFacts, passGates, recordFailure } from './run.js';

export interface ActivateOptions {
  /** --force: skip the window and the fresh look at the offer. */
  force: boolean;
  /**
   * `apply --activate`: the update was just staged, so a closed window is not a refusal
   * of the run but a deferral (ACTIVATION_DEFERRED: staged, activates in the next window).
   */
  afterApply?: boolean;
}

const WINDOW_CODES = new Set(['OUTSIDE_MAINTENANCE_WINDOW', 'MAINTENANCE_WINDOW_ENDING']);

/** Flip the bootloader to the staged slot after the gates and a re-verification of the slot. */
export async function activate(deps: AgentDeps, options: ActivateOptions): Promise<UpdateState> {
  const { state, boot } = await reconcile(deps);
  if (state.phase !== 'staged' || !state.targetSlot) {
    throw lifecycleError('NOTHING_STAGED', `nothing to activate (phase ${state.phase})`, {
      details: { phase: state.phase },
    });
  }
  const target = state.targetSlot;
  let digests: SlotDigests;
  try {
    if (boot.runningSlot === target) {
      throw lifecycleError('TARGET_IS_RUNNING', `slot ${target} is the running slot`);
    }
    const staged = stagedDigests(state);
    if (staged === undefined) {
      throw lifecycleError(
        'STAGED_DIGESTS_MISSING',
        'state.json holds no digests for the staged image',
      );
    }
    digests = staged;
  } catch (err) {
    return failWith(deps, state, err);
  }
  try {
    await passActivationGates(deps, state, boot, options);
  } catch (err) {
    return recordFailure(deps, state, 'staged', deferral(err, state, options));
  }
  try {
    // docs/design.md §2: read back and re-hash before activate may flip the slot.
    await deps.slots.verify(target, digests);
    const version = await deps.slots.readVersion(target);
    if (version !== state.toVersion) {
      throw lifecycleError(
        'SLOT_VERSION_MISMATCH',
        `slot ${target} holds ${version ?? 'no version'}, expected ${state.toVersion ?? '?'}`,
      );
    }
  } catch (err) {
    return failWith(deps, state, err);
  }
  try {
    // GRUB reads the slot without replaying a filesystem journal: make it readable
    // now, or a power cut after the flip could send GRUB to a slot it cannot see.
    await deps.slots.flushForBootloader(target);
    await deps.bootEnv.activate(target);
  } catch (err) {
    // The slot verified: the image is good, only the boot side failed (a full or
    // read-only /boot). Keep it staged so `activate` can be retried once that is fixed.
    return recordFailure(deps, state, 'staged', err);
  }
  const activated = await deps.state.transition(state, 'activated', {
    activatedBootId: await deps.bootId(),
    lastError: undefined,
    reason: undefined,
    healthCheckFailures: 0,
  });
  await rememberOutcome(deps, attemptIdentity(activated), { outcome: 'on_trial' });
  return activated;
}

/**
 * The hold, the window (with enough of it left), then the release on offer fetched and
 * verified again and judged by the release gates as `apply` judged it (a downgrade was
 * decided when it was staged). Throws the first refusal.
 */
async function passActivationGates(
  deps: AgentDeps,
  state: UpdateState,
  boot: BootState,
  options: ActivateOptions,
): Promise<GateVerdict[]> {
  const runningSlot = boot.runningSlot;
  const device = await deviceFacts(deps, options, boot);
  const passed: GateVerdict[] = [];
  await passGates('device', device, passed);
  await passGates('activation', device, passed);
  if (options.force) {
    deps.log.info('--force: the release on offer is not looked at again before activating');
    return passed;
  }
  const release = await (await deps.openSource()).fetchRelease(deps.signal);
  const md = release.metadata;
  const staged = attemptIdentity(state);
  if (staged === undefined || !describes(staged, releaseIdentity(md))) {
    throw lifecycleError(
      'STAGED_RELEASE_SUPERSEDED',
      `${state.toVersion ?? '?'} is staged but ${md.version}${md.version === state.toVersion ? ' with other images' : ''} is on offer now; the next apply stages it`,
    );
  }
  const facts: ReleaseFacts = {
    ...device,
    metadata: md,
    allowDowngrade: true,
    runningSlot,
    runningVersion: runningSlot ? await deps.slots.readVersion(runningSlot) : undefined,
    ...(await fleetFacts(deps, release, false)),
  };
  await passGates('release', facts, passed);
  return passed;
}

/** After `apply`, a closed window defers the activation: ACTIVATION_DEFERRED, exit 3. */
function deferral(err: unknown, state: UpdateState, options: ActivateOptions): unknown {
  if (!options.afterApply || !(err instanceof KubesoloError) || !WINDOW_CODES.has(err.code)) {
    return err;
  }
  return lifecycleError(
    'ACTIVATION_DEFERRED',
    `staged ${state.toVersion ?? '?'} in slot ${state.targetSlot ?? '?'}; it activates in the next maintenance window (${err.message.replace(/^maintenance_window: /, '')})`,
    {
      cause: err,
      details: {
        window_code: err.code,
        // When it activates: the window gate's next opening, for --json and the log.
        ...(err.details.next_window_opens_at === undefined
          ? {}
          : { next_window_opens_at: err.details.next_window_opens_at }),
      },
    },
  );
}

/** Whether an activation would pass the window now (`status` says when it activates). */
export async function activationVerdicts(
  deps: AgentDeps,
  boot: BootState | undefined,
): Promise<GateVerdict[]> {
  return evaluateGates('activation', await deviceFacts(deps, { force: false }, boot));
}
