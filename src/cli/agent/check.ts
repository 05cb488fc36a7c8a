import { checkDevice } from '../../agent/check-record.js';
import { withAgent } from '../../agent/session.js';
import { describeUnknownKey } from '../../config/unknown-keys.js';
import { ExitCode } from '../../errors.js';
import { formatBytes } from '../../units.js';
import type { GateVerdict } from '../../gates/verdict.js';
import { boolOpt, type Command } from '../command.js';
import { SOURCE_GLOBALS, type AgentGlobal } from './global.js';

function gateJson(g: GateVerdict) {
  return {
    ...g.facts,
    gate: g.gate,
    pass: g.pass,
    skipped: g.skipped === true,
    warning: g.warning === true,
    code: g.code ?? null,
    message: g.message,
  };
}

function gateLine(g: GateVerdict, refused: string): string {
  const mark = !g.pass ? refused : g.warning ? 'WARNING' : g.skipped ? 'skipped' : 'ok';
  const code = g.code && (!g.pass || g.warning) ? ` [${g.code}]` : '';
  return `  ${mark.padEnd(8)} ${g.gate.padEnd(23)} ${g.message}${code}`;
}

export const checkCommand: Command<AgentGlobal> = {
  name: 'check',
  summary: "Fetch metadata and report every gate's verdict (changes nothing)",
  description: [
    'Exits 0 when every gate passes (up to date, or an update would be applied), 3 when',
    'any gate refuses, 4 when the metadata fails verification. The maintenance window',
    'gates only the activation: outside it the update is staged now and activated in the',
    "window ('later' below), which is not a refusal. Changes no lifecycle",
    "state; records the check's time in an existing state directory, creates nothing.",
    'Lists update.conf keys the agent does not know (with --strict they are an error).',
  ].join('\n'),
  globals: SOURCE_GLOBALS,
  options: {
    'allow-downgrade': { type: 'boolean', description: 'Evaluate an older release as acceptable' },
  },
  async run(ctx) {
    return withAgent(ctx.global, ctx.log, {}, async (agent) => {
      const r = await checkDevice(agent, {
        force: ctx.global.force,
        allowDowngrade: boolOpt(ctx.values, 'allow-downgrade'),
      });
      const refused = r.gates.filter((g) => !g.pass);
      ctx.out.data({
        ok: true,
        current_version: r.currentVersion ?? null,
        available_version: r.availableVersion ?? null,
        update_available: r.updateAvailable,
        would_apply: r.wouldApply,
        activates_now: r.activatesNow,
        running_slot: r.runningSlot ?? null,
        unknown_config_keys: agent.unknownConfigKeys,
        target_slot: r.targetSlot ?? null,
        download: r.downloads ?? null,
        // The activation's verdicts last, marked: a refusal there defers, it does not refuse.
        gates: [
          ...r.gates.map(gateJson),
          ...r.activation.map((g) => ({ ...gateJson(g), activation: true })),
        ],
      });
      ctx.out.line(`Current version:   ${r.currentVersion ?? 'unknown'}`);
      ctx.out.line(`Available version: ${r.availableVersion ?? 'none'}`);
      ctx.out.line(
        `Update available:  ${r.updateAvailable ? `yes${r.wouldApply ? (r.activatesNow ? '' : ' (staged now, activated in the maintenance window)') : ' (refused by a gate)'}` : 'no'}`,
      );
      for (const [artifact, d] of Object.entries(r.downloads ?? {})) {
        ctx.out.line(
          d.mode === 'delta'
            ? `Download ${artifact}: ${formatBytes(d.bytes)} of ${formatBytes(d.imageBytes)} by delta (${formatBytes(d.reusedBytes)} reused)`
            : `Download ${artifact}: ${formatBytes(d.bytes)}, the whole image (${d.reason ?? 'no delta'})`,
        );
      }
      ctx.out.line('Gates:');
      for (const g of r.gates) ctx.out.line(gateLine(g, 'REFUSED'));
      // A closed window defers the activation; it refuses nothing.
      for (const g of r.activation) ctx.out.line(gateLine(g, 'later'));
      for (const u of agent.unknownConfigKeys) {
        ctx.out.line(`Config: ${describeUnknownKey(u)}, ignored`);
      }
      return refused.length > 0 ? ExitCode.REFUSED : ExitCode.OK;
    });
  },
};
