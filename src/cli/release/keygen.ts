import type { Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const keygenCommand: Command<ReleaseGlobal> = {
  name: 'keygen',
  summary: 'Create an Ed25519 key pair',
  usage: 'keygen --out DIR [--force]',
  run: notImplemented('kubesolo-release keygen'),
};
