/** The command tree of `kubesolo-release`, the publisher's tool. */
import { VERSION } from '../../version.js';
import type { Program } from '../command.js';
import { makeReleaseGlobal, releaseGlobalOptions, type ReleaseGlobal } from './global.js';
import { keygenCommand } from './keygen.js';
import { publishCommand } from './publish.js';
import { pushCommand } from './push.js';
import { repackCommand } from './repack.js';
import { serveCommand } from './serve.js';
import { signCommand } from './sign.js';
import { verifyCommand } from './verify.js';

export const releaseProgram: Program<ReleaseGlobal> = {
  name: 'kubesolo-release',
  summary: 'Keys, signatures and publishing for KubeSolo OS releases',
  version: VERSION,
  globalOptions: releaseGlobalOptions,
  sharedGlobals: ['json', 'log-level'],
  permissionHint: 'Check the permissions of that path, or choose one you can write.',
  commands: [
    keygenCommand,
    signCommand,
    publishCommand,
    verifyCommand,
    serveCommand,
    pushCommand,
    repackCommand,
  ],
  makeGlobal: makeReleaseGlobal,
};
