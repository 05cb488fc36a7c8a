import { activate } from '../../agent/lifecycle/activate.js';
import { apply } from '../../agent/lifecycle/apply.js';
import { withAgent } from '../../agent/session.js';
import { ExitCode, UsageError } from '../../errors.js';
import { boolOpt, type Command } from '../command.js';
import { SOURCE_GLOBALS, showsProgress, type AgentGlobal } from './global.js';
import { createProgressRenderer } from '../progress.js';

export const applyCommand: Command<AgentGlobal> = {
  name: 'apply',
  summary: 'Download, verify and write an update to the passive slot',
  description: [
    'Order: hold → mark the running slot good → fetch and verify metadata → gates (rollout,',
    'channel, architecture, board, minimum version, downgrade, floor, quarantine, back-off) →',
    'pre-flight (free space, node label updates.kubesolo.io/block=true) → download and',
    'verify → write the passive slot → read back → phase staged. Staging goes on outside',
    'the maintenance window; --activate activates only inside it (else ACTIVATION_DEFERRED,',
    'exit 3: it activates in the next window). On a device with an intact staged update it',
    'stops (ALREADY_STAGED, exit 0; with --activate it activates that update). --force',
    'stages afresh and skips the window, the rollout, quarantine and the node label.',
  ].join('\n'),
  globals: SOURCE_GLOBALS,
  options: {
    'allow-downgrade': {
      type: 'boolean',
      description: 'Accept a release older than the running one',
    },
    activate: { type: 'boolean', description: 'Activate the staged slot right away' },
    reboot: { type: 'boolean', description: 'With --activate: reboot into the new slot' },
  },
  async run(ctx) {
    const chainActivate = boolOpt(ctx.values, 'activate');
    const reboot = boolOpt(ctx.values, 'reboot');
    if (reboot && !chainActivate) {
      throw new UsageError('USAGE', '--reboot needs --activate');
    }
    const session = {
      lock: 'required',
      ...(showsProgress(ctx.global) ? { progress: createProgressRenderer({ log: ctx.log }) } : {}),
      rebootAfter: (done: { activated: boolean }) => reboot && done.activated,
    } as const;
    // The work runs in the session; it is printed once the session is over, so that a
    // stop asked for meanwhile ends the command as stopped, with one JSON document.
    const done = await withAgent(ctx.global, ctx.log, session, async (agent) => {
      const r = await apply(agent.deps, {
        force: ctx.global.force,
        allowDowngrade: boolOpt(ctx.values, 'allow-downgrade'),
      });
      if (r.outcome === 'up-to-date' || !chainActivate) return { r, activated: false };
      // Asked to stop during the install: it finished, but nothing more starts.
      agent.deps.signal?.throwIfAborted();
      const state = await activate(agent.deps, { force: ctx.global.force, afterApply: true });
      return { r, activated: true, state };
    });
    const r = done.r;
    if (r.outcome === 'up-to-date') {
      ctx.log.info('already up to date', { version: r.version, code: 'UP_TO_DATE' });
      ctx.out.line(`Up to date: running ${r.version}.`);
      ctx.out.data({ ok: true, outcome: 'up-to-date', version: r.version });
      return ExitCode.OK;
    }
    if (r.outcome === 'already-staged') {
      ctx.log.info('an intact update is already staged; nothing downloaded or written', {
        code: 'ALREADY_STAGED',
        version: r.state.toVersion,
        slot: r.state.targetSlot,
      });
      ctx.out.line(
        `Already staged: ${r.state.toVersion ?? '?'} in slot ${r.state.targetSlot ?? '?'} (use --force to stage afresh).`,
      );
    } else {
      ctx.out.line(`Staged ${r.state.toVersion ?? '?'} in slot ${r.state.targetSlot ?? '?'}.`);
    }
    const state = done.state ?? r.state;
    if (done.activated) {
      ctx.out.line(`Activated slot ${state.targetSlot ?? '?'}: it boots on the next restart.`);
    } else {
      ctx.out.line(`Run 'kubesolo-update activate' to boot it next.`);
    }
    ctx.out.data({
      ok: true,
      outcome: r.outcome === 'already-staged' && !done.activated ? 'already-staged' : state.phase,
      ...(r.outcome === 'already-staged' ? { code: 'ALREADY_STAGED' } : {}),
      version: state.toVersion,
      slot: state.targetSlot,
    });
    return ExitCode.OK;
  },
};
