import { keySetPath, type AgentContext } from '../../agent/context.js';
import { deviceStatus, formatStatus } from '../../agent/status.js';
import { withAgent } from '../../agent/session.js';
import { loadKeySet } from '../../crypto/key-set.js';
import { keyFingerprint } from '../../crypto/keys.js';
import { ExitCode, toKubesoloError } from '../../errors.js';
import type { ReasonCode } from '../../reason-codes.js';
import type { Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

/** The trusted keys `pubkey` names, by fingerprint; null when no key is configured. */
type KeysView =
  | { path: string; keys: { fingerprint: string; source: string }[] }
  | { path: string; problem: { code: ReasonCode; message: string } }
  | null;

async function configuredKeys(agent: AgentContext): Promise<KeysView> {
  const path = keySetPath(agent.settings, agent.paths.root);
  if (path === undefined) return null;
  try {
    const keys = await loadKeySet(path);
    return {
      path,
      keys: keys.map((k) => ({ fingerprint: keyFingerprint(k.key), source: k.source })),
    };
  } catch (err) {
    const e = toKubesoloError(err);
    return { path, problem: { code: e.code, message: e.message } };
  }
}

function formatKeys(view: KeysView): string {
  if (view === null) return 'Keys:      none configured (pubkey= in update.conf)';
  if ('problem' in view) return `Keys:      ${view.problem.code}: ${view.problem.message}`;
  return `Keys:      ${view.keys.map((k) => `${k.fingerprint} (${k.source})`).join(', ')}`;
}

export const statusCommand: Command<AgentGlobal> = {
  name: 'status',
  summary: 'Show slots, versions, boot counter and update phase',
  globals: DEVICE_GLOBALS,
  description: [
    'Read-only: takes no lock and creates or writes nothing, so it works on a read-only',
    'or full state partition. A boot fallback is shown as the next writing command records it.',
    'Keys: the trusted keys by fingerprint (the one kubesolo-release keygen and verify print).',
  ].join('\n'),
  async run(ctx) {
    const { report, keys } = await withAgent(ctx.global, ctx.log, {}, async (agent) => ({
      report: await deviceStatus(agent),
      keys: await configuredKeys(agent),
    }));
    ctx.out.data({ ...report, keys });
    for (const line of formatStatus(report)) ctx.out.line(line);
    ctx.out.line(formatKeys(keys));
    // Everything readable was shown; a script still learns that something was not.
    for (const p of report.problems)
      ctx.log.error(`cannot read ${p.source}: ${p.message}`, { ...p });
    return report.problems.length > 0 ? ExitCode.FAILED : ExitCode.OK;
  },
};
