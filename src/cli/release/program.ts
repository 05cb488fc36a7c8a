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
  files: [
    ['DIR/release.key', 'The private key keygen writes (PKCS#8 PEM, mode 0600): keep it secret.'],
    ['DIR/release.pub', 'The public key (64 hex characters) devices trust.'],
    ['OUT/latest.json, OUT/latest.json.sig', 'The release publish announces, and its signature.'],
  ],
  environment: [
    [
      'HTTPS_PROXY, HTTP_PROXY, NO_PROXY',
      'Proxy for verify and push, as curl reads them (lowercase too).',
    ],
    ['KUBESOLO_REGISTRY_PASSWORD', 'The registry password of push (or --password-stdin).'],
  ],
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
