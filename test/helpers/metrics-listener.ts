/**
 * `kubesolo-update metrics --listen 127.0.0.1:0` (the built bundle) on a simulated
 * device, as the node DaemonSet runs it. The port is the kernel's choice, read from the
 * agent's "serving metrics" log line; the log is kept for the tests to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { AGENT_BIN } from './cli.js';

export interface MetricsListener {
  child: ChildProcess;
  /** The URL it logged: http://127.0.0.1:PORT/metrics */
  url: string;
  /** 127.0.0.1:PORT, a Prometheus scrape target. */
  target: string;
  /** Everything it has logged so far (JSON lines). */
  stderr(): string;
}

/** `extra`: further options (`--token-file FILE`). Stop it with child.kill(). */
export async function startMetricsListener(
  root: string,
  extra: string[] = [],
): Promise<MetricsListener> {
  const child = spawn(
    process.execPath,
    [AGENT_BIN, 'metrics', '--listen', '127.0.0.1:0', ...extra, '--root', root],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`metrics --listen exited ${code}: ${stderr}`)));
  });
  return { child, url, target: new URL(url).host, stderr: () => stderr };
}
