/**
 * The demo's stand-in for the workload on the device: an HTTP endpoint that the
 * agent's `probe_url` health check asks. It answers 200 while the running slot holds
 * a good release and 503 when it holds one of the `broken` versions, the way an
 * application that does not start on a bad OS build would.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Probe {
  url: string;
  close(): Promise<void>;
}

async function runningVersion(root: string): Promise<string | undefined> {
  const cmdline = await readFile(join(root, 'proc', 'cmdline'), 'utf8').catch(() => '');
  const slot = /(?:^|\s)kubesolo\.slot=([AB])(?:\s|$)/.exec(cmdline)?.[1];
  if (!slot) return undefined;
  const v = await readFile(join(root, 'slots', slot, 'version'), 'utf8').catch(() => undefined);
  return v?.trim();
}

export async function startProbe(root: string, broken: ReadonlySet<string>): Promise<Probe> {
  const server: Server = createServer((req, res) => {
    runningVersion(root).then(
      (version) => {
        const ok = version !== undefined && !broken.has(version);
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(ok ? `ok: ${version}\n` : `workload down on ${version ?? 'unknown'}\n`);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/healthz`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
