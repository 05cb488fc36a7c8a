import { keyFingerprint, parsePublicKey } from '../../crypto/keys.js';
import { UsageError } from '../../errors.js';
import { writeKeyPair } from '../../release/keys.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';

export const keygenCommand: Command<ReleaseGlobal> = {
  name: 'keygen',
  summary: 'Create an Ed25519 key pair',
  usage: 'keygen --out DIR [--force]',
  description: [
    'Writes DIR/release.key (PKCS#8 PEM, mode 0600: keep it secret and backed up) and',
    'DIR/release.pub (64 hex characters: install it on devices as /etc/kubesolo/update.pub).',
  ].join('\n'),
  options: {
    out: { type: 'string', valueName: 'DIR', description: 'Directory for the key files' },
    force: { type: 'boolean', description: 'Overwrite existing key files' },
  },
  async run({ values, log, out }) {
    const dir = stringOpt(values, 'out');
    if (dir === undefined) throw new UsageError('MISSING_OPTION', 'keygen needs --out DIR');
    const keys = await writeKeyPair(dir, { force: boolOpt(values, 'force') });
    log.info('key pair written', { private: keys.privateKeyPath, public: keys.publicKeyPath });
    out.line(`private key: ${keys.privateKeyPath} (mode 0600, keep it secret)`);
    out.line(`public key:  ${keys.publicKeyPath}`);
    out.line(keys.publicKeyHex);
    // The name every later message gives this key (verify, status, a refused signature).
    const fingerprint = keyFingerprint(parsePublicKey(keys.publicKeyHex));
    out.line(`fingerprint: ${fingerprint}`);
    out.data({ ok: true, ...keys, fingerprint });
  },
};
