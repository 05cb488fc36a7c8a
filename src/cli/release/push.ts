import type { Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const pushCommand: Command<ReleaseGlobal> = {
  name: 'push',
  summary: 'Push a release to an OCI registry',
  usage: 'push --registry REF --tag TAG [options]',
  run: notImplemented('kubesolo-release push'),
};
