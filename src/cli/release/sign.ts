import { UsageError } from '../../errors.js';
import { loadPrivateKey } from '../../release/keys.js';
import { signFile } from '../../release/sign.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import type { ReleaseGlobal } from './global.js';

export const signCommand: Command<ReleaseGlobal> = {
  name: 'sign',
  summary: 'Write FILE.sig for each FILE',
  usage: 'sign --key KEY [--raw] FILE...',
  description:
    'Pure Ed25519 (RFC 8032) over the exact bytes of each file. FILE.sig holds 128 hex\n' +
    'characters, or the 64 raw signature bytes with --raw.',
  options: {
    key: { type: 'string', valueName: 'KEY', description: 'Private key (PKCS#8 PEM)' },
    raw: { type: 'boolean', description: 'Write 64 raw bytes instead of hex' },
  },
  async run({ values, positionals, log, out }) {
    const keyPath = stringOpt(values, 'key');
    if (keyPath === undefined) throw new UsageError('MISSING_OPTION', 'sign needs --key KEY');
    if (positionals.length === 0) throw new UsageError('MISSING_ARGUMENT', 'sign needs FILE...');
    const key = await loadPrivateKey(keyPath);
    const encoding = boolOpt(values, 'raw') ? 'raw' : 'hex';
    const signed: { file: string; signature: string }[] = [];
    for (const file of positionals) {
      const s = await signFile(key, file, { encoding });
      log.info('signed', { file, signature: s.sigPath });
      out.line(s.sigPath);
      signed.push({ file, signature: s.sigPath });
    }
    out.data({ ok: true, signed });
  },
};
