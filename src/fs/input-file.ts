/**
 * An input file an operator names on a command line (`publish --kernel`, `repack IN`,
 * `dev init-root --pubkey`, the latest.json `--pause` signs again): read whole, and a
 * file that cannot be read is the operator's mistake (UsageError INPUT_UNREADABLE, exit
 * 2) whose message names the option and the path, with a hint when there is one.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

export interface InputFileNaming {
  /** The option the path came from (`--kernel`), said before the path. */
  option?: string;
  /** What to know about this input, said after the path. */
  hint?: string;
}

export async function readInputFile(path: string, naming: InputFileNaming = {}): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const what = naming.option === undefined ? path : `${naming.option} ${path}`;
    const hint = naming.hint === undefined ? '' : `: ${naming.hint}`;
    throw new UsageError('INPUT_UNREADABLE', `cannot read ${what}${hint}`, {
      cause: err,
      details: { path },
    });
  }
}
