import { createServer } from 'node:http';
import { metricsSnapshot as snapshot } from '../../agent/metrics.js';
import { withAgent } from '../../agent/session.js';
import { UsageError } from '../../errors.js';
import { SERVER_LIMITS } from '../../transport/http-limits.js';
import { assertTokenReadable, bearerCheck } from '../../metrics/bearer.js';
import { EXPOSITION_CONTENT_TYPE } from '../../metrics/exposition.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import { DEVICE_GLOBALS, type AgentGlobal } from './global.js';

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
    'With --listen HOST:PORT: serves it on /metrics until stopped; with --token-file,',
    "only to scrapes that send 'Authorization: Bearer <the file's token>' (others get 401).",
  ].join('\n'),
  options: {
    listen: { type: 'string', valueName: 'HOST:PORT', description: 'Serve /metrics over HTTP' },
    'record-running-version': {
      type: 'boolean',
      description:
        "Keep this boot's running slot version for an unprivileged reader (update/running-version.json)",
    },
    'token-file': {
      type: 'string',
      valueName: 'FILE',
      description: 'With --listen: require this bearer token (read again when the file changes)',
    },
  },
  async run(ctx) {
    const listen = stringOpt(ctx.values, 'listen');
    const tokenFile = stringOpt(ctx.values, 'token-file');
    const recordRunningVersion = boolOpt(ctx.values, 'record-running-version');
    if (tokenFile && !listen) {
      throw new UsageError(
        'USAGE',
        '--token-file guards --listen; there is nothing to guard without it',
      );
    }
    return withAgent(ctx.global, ctx.log, {}, async (agent) => {
      if (!listen) {
        process.stdout.write(await snapshot(agent, { recordRunningVersion }));
        return;
      }
      const { host, port } = parseListen(listen);
      if (tokenFile) await assertTokenReadable(tokenFile);
      const authorize = tokenFile ? bearerCheck(tokenFile) : undefined;
      const server = createServer(SERVER_LIMITS, (req, res) => {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD' }).end('method not allowed\n');
          return;
        }
        if (req.url !== '/metrics') {
          res.writeHead(404).end('not found\n');
          return;
        }
        const verdict = authorize ? authorize(req.headers.authorization) : Promise.resolve('ok');
        verdict
          .then((v) => {
            if (v === 'ok') return snapshot(agent);
            ctx.log.warn('metrics scrape refused', { code: 'METRICS_UNAUTHORIZED', token: v });
            res
              .writeHead(401, { 'www-authenticate': 'Bearer realm="kubesolo-update metrics"' })
              .end('unauthorized\n');
            return undefined;
          })
          .then(
            (body) => {
              if (body === undefined) return;
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
