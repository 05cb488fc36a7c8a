// The agent side of bench/download.bench.mjs: one downloadToFile() call, the same code
// `apply` stages with, bundled by esbuild like the shipped binaries. Prints a JSON line
// with the result and this process's peak RSS.
//   node client.mjs '{"url":…,"dest":…,"sha256":…,"size":…,"sig":"hex"?,"pub":"hex"?}'
import { Agent, request } from 'undici';
import { downloadToFile } from '../src/transport/download/download.js';
import { silentLogger } from '../src/log.js';

interface Args {
  /** 'receive': only read the body with undici (diagnostic row). */
  mode?: 'receive';
  url: string;
  dest: string;
  sha256: string;
  size: number;
  sig?: string;
  pub?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const started = performance.now();
if (args.mode === 'receive') {
  const response = await request(args.url, { dispatcher: new Agent() });
  let n = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) n += chunk.length;
  process.stdout.write(
    JSON.stringify({
      ms: performance.now() - started,
      bytes: n,
      maxRssKiB: process.resourceUsage().maxRSS,
    }) + '\n',
  );
  process.exit(0);
}
const result = await downloadToFile({
  log: silentLogger,
  url: args.url,
  dest: args.dest,
  dispatcher: new Agent(),
  expectedSha256: args.sha256,
  expectedSize: args.size,
  ...(args.sig && args.pub
    ? {
        signature: {
          signature: Buffer.from(args.sig, 'hex'),
          publicKey: Buffer.from(args.pub, 'hex'),
        },
      }
    : {}),
});
process.stdout.write(
  JSON.stringify({
    ms: performance.now() - started,
    bytesFetched: result.bytesFetched,
    resumedFrom: result.resumedFrom,
    signatureVerified: result.signatureVerified,
    // resourceUsage().maxRSS is in KiB (getrusage ru_maxrss).
    maxRssKiB: process.resourceUsage().maxRSS,
  }) + '\n',
);
process.exit(0);
