import { createStaticServer, listen, parseListen } from '../../release/serve.js';
import { stringOpt, type Command, onlyPositional } from '../command.js';
import type { ReleaseGlobal } from './global.js';

export const serveCommand: Command<ReleaseGlobal> = {
  name: 'serve',
  summary: 'Serve a release directory over HTTP (Range, ETag)',
  usage: 'serve DIR [--listen HOST:PORT]',
  description: [
    'A static server for labs and air-gapped sites: GET/HEAD, byte ranges, strong ETags,',
    'If-Range. Dot files are never served. Runs until interrupted (SIGINT/SIGTERM).',
    'Listens on 127.0.0.1:8080 by default; use a port of 0 for any free port.',
  ].join('\n'),
  options: {
    listen: {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'Address to listen on (default 127.0.0.1:8080)',
    },
  },
  async run({ values, positionals, log, out }) {
    const dir = onlyPositional(positionals, 'serve needs exactly one DIR');
    const address = parseListen(stringOpt(values, 'listen') ?? '127.0.0.1:8080');
    const server = await createStaticServer(dir, { log });
    const url = await listen(server, address);
    log.info('serving', { dir, url });
    out.line(`serving ${dir} at ${url}`);
    out.line(`metadata: ${url}latest.json`);
    out.data({ ok: true, url, dir });
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        server.close(() => resolve());
        server.closeAllConnections();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    log.info('stopped');
  },
};
