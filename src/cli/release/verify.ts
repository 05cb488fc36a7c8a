import type { Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';
import { notImplemented } from '../not-implemented.js';

export const verifyCommand: Command<ReleaseGlobal> = {
  name: 'verify',
  summary: 'Check a published release exactly as the agent would',
  usage: 'verify --pubkey PUB DIR|URL',
  run: notImplemented('kubesolo-release verify'),
};
