// Runs one downloadToFile in a child process so a test can kill it mid-transfer.
// argv: url dest sha256 size
import { Agent } from 'undici';
import { downloadToFile } from '../../src/transport/download/download.js';
import { silentLogger } from '../../src/log.js';

const [url, dest, sha, size] = process.argv.slice(2);
await downloadToFile({
  log: silentLogger,
  url: url!,
  dest: dest!,
  dispatcher: new Agent(),
  expectedSha256: sha!,
  expectedSize: Number(size),
  onProgress: (n) => process.stdout.write(`${n}\n`),
});
