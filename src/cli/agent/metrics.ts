import { createServer } from 'node:http';
import type { AgentContext } from '../../agent/context.js';
import { UsageError } from '../../errors.js';
import { SERVER_LIMITS } from '../../http-limits.js';
import type { UpdateState } from '../../agent/state.js';
import {
  EXPOSITION_CONTENT_TYPE,
  renderMetrics,
  type MetricsInput,
} from '../../metrics/exposition.js';
import { stringOpt, type Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';
import { withAgent } from './session.js';

/** An ISO time from state.json as a Date; undefined when absent or unreadable. */
function dateOf(iso: string | undefined): Date | undefined {
  const ms = iso === undefined ? NaN : Date.parse(iso);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/**
 * The renderer's input from state.json and the boot side. A state.json written before
 * the fleet fields existed has no phase_since/activated_at: updated_at stands in.
 */
export function metricsInput(
  state: UpdateState,
  boot: { activeSlot?: string | undefined; runningSlot?: string | undefined },
  version: string | undefined,
  channel: string | undefined,
): MetricsInput {
  const phaseSince = dateOf(state.phaseSince ?? state.updatedAt);
  const onTrial = state.phase === 'activated' || state.phase === 'verifying';
  return {
    phase: state.phase,
    attemptCount: state.attemptCount,
    healthCheckFailures: state.healthCheckFailures,
    activeSlot: boot.activeSlot,
    runningSlot: boot.runningSlot,
    version,
    channel,
    lastTransition: phaseSince,
    reason: state.reason,
    failureCounts: state.failureCounts,
    rollbackCounts: state.rollbackCounts,
    lastCheck: dateOf(state.lastCheckAt),
    availableVersion: state.availableVersion,
    activatedAt: dateOf(state.activatedAt) ?? (onTrial ? phaseSince : undefined),
    lastApplyBytes: state.lastApplyBytes,
    lastApplySeconds: state.lastApplySeconds,
  };
}

/** Read everything fresh: a long-running --listen serves the state as it is now. */
async function snapshot(agent: AgentContext): Promise<string> {
  const { state } = await agent.deps.state.read();
  const boot = await agent.deps.bootEnv.read();
  const version = boot.runningSlot
    ? await agent.deps.slots.readVersion(boot.runningSlot)
    : undefined;
  return renderMetrics(metricsInput(state, boot, version, agent.deps.policy.channel));
}

function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError('USAGE', `--listen must be HOST:PORT (or [IPv6]:PORT), got '${value}'`);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

export const metricsCommand: Command<AgentGlobal> = {
  name: 'metrics',
  summary: 'Print or serve Prometheus metrics',
  // --channel: the channel label of kubesolo_update_info, as the config would set it.
  globals: [...DEVICE_GLOBALS, 'channel'],
  description: [
    'Without --listen: prints the Prometheus text exposition to stdout (for the',
    "node-exporter textfile collector: 'kubesolo-update metrics > dir/kubesolo.prom.$$ && mv ...').",
    'With --listen HOST:PORT: serves it on /metrics until stopped.',
  ].join('\n'),
  options: {
    listen: { type: 'string', valueName: 'HOST:PORT', description: 'Serve /metrics over HTTP' },
  },
  async run(ctx) {
    const listen = stringOpt(ctx.values, 'listen');
    return withAgent(ctx, { lock: false }, async (agent) => {
      if (!listen) {
        process.stdout.write(await snapshot(agent));
        return;
      }
      const { host, port } = parseListen(listen);
      const server = createServer(SERVER_LIMITS, (req, res) => {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD' }).end('method not allowed\n');
          return;
        }
        if (req.url !== '/metrics') {
          res.writeHead(404).end('not found\n');
          return;
        }
        snapshot(agent).then(
          (body) => {
            res
              .writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE })
              .end(req.method === 'HEAD' ? undefined : body);
          },
          (err: unknown) => {
            ctx.log.error('metrics snapshot failed', { error: String(err) });
            res.writeHead(500).end('error\n');
          },
        );
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, resolve);
      });
      const addr = server.address();
      const shown = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : listen;
      ctx.log.info('serving metrics', { url: `http://${shown}/metrics` });
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
  },
};
