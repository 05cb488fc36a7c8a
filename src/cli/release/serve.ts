import type { Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const serveCommand: Command<ReleaseGlobal> = {
  name: 'serve',
  summary: 'Serve a release directory over HTTP (Range, ETag)',
  usage: 'serve DIR [--listen HOST:PORT]',
  run: notImplemented('kubesolo-release serve'),
};
