/**
 * Real Prometheus tools for the monitoring tests: promtool, and a `prometheus` server on
 * loopback with its own temp directory and free port. As root (CI) a missing tool is a
 * failure, not a skip; elsewhere the tests skip with the reason.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export const MONITORING_DIR = fileURLToPath(new URL('../../deploy/monitoring/', import.meta.url));
export const RULES_FILE = join(MONITORING_DIR, 'kubesolo-update.rules.yaml');
export const RULES_TEST_FILE = join(MONITORING_DIR, 'kubesolo-update.rules.test.yaml');
export const DASHBOARD_FILE = join(MONITORING_DIR, 'grafana', 'kubesolo-update-fleet.json');

function installed(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Why the tests cannot run here, or false: as root they always run (and fail loudly). */
export function prometheusSkipReason(): string | false {
  if (process.getuid?.() === 0) return false;
  const missing = ['prometheus', 'promtool'].filter((t) => !installed(t));
  return missing.length > 0
    ? `${missing.join(', ')} not installed (Debian package prometheus)`
    : false;
}

export interface ToolResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run promtool; `input` goes to its standard input (`check metrics` reads it there). */
export function promtool(args: string[], cwd?: string, input?: string): ToolResult {
  const r = spawnSync('promtool', args, {
    encoding: 'utf8',
    cwd,
    timeout: 120_000,
    ...(input === undefined ? {} : { input }),
  });
  if (r.error)
    throw new Error(`promtool could not run (Debian package prometheus): ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Prometheus 2 cannot be given
 * port 0 (it reports only the address it was given), so the port is picked here and
 * released before Prometheus binds it: another process may take it in between, which
 * startPrometheus notices (Prometheus exits with "address already in use", or the server
 * that answers is not ours) and retries with another port.
 */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Attempts at a port before giving up (each lost only to a race with another process). */
const PORT_ATTEMPTS = 5;

export interface PrometheusServer {
  url: string;
  /** Instant query; throws on a non-success answer (PromQL errors included). */
  query(expr: string): Promise<PromSample[]>;
  stop(): Promise<void>;
  log(): string;
}

async function servesConfig(url: string, configFile: string): Promise<boolean> {
  const flags = await fetch(`${url}/api/v1/status/flags`)
    .then((r) => r.json() as Promise<{ data?: Record<string, string> }>)
    .catch(() => undefined);
  return flags?.data?.['config.file'] === configFile;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusOptions {
  /**
   * Flags as a manifest gives them (`--enable-feature=agent,...`); an agent-mode server
   * keeps its WAL under --storage.agent.path instead of a TSDB.
   */
  flags?: string[];
  /** Environment of the process (external labels expand `${VAR}` from it). */
  env?: Record<string, string>;
}

export async function startPrometheus(
  config: string,
  files: Record<string, string>,
  options: PrometheusOptions = {},
): Promise<PrometheusServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(config, files, options, await freePort());
    } catch (err) {
      if (!(err instanceof PortLost) || attempt === PORT_ATTEMPTS) throw err;
    }
  }
}

/**
 * A Prometheus that scrapes `targets` (static_configs entries, as YAML lines) every
 * second as job kubesolo-update and evaluates the shipped rules, with every `for` set to
 * 0s so alerts fire within the test (promtool's rule tests cover the durations).
 */
export async function startWithShippedRules(targets: string[]): Promise<PrometheusServer> {
  const rules = parse(await readFile(RULES_FILE, 'utf8')) as {
    groups: { rules: { for?: string }[] }[];
  };
  for (const g of rules.groups) for (const r of g.rules) if (r.for !== undefined) r.for = '0s';
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files: [rules.yaml]',
    'scrape_configs:',
    '  - job_name: kubesolo-update',
    '    static_configs:',
    ...targets,
    '',
  ].join('\n');
  return startPrometheus(config, { 'rules.yaml': stringify(rules) });
}

/** The port was taken by another process between freePort and Prometheus's bind. */
class PortLost extends Error {}

async function startOnce(
  config: string,
  files: Record<string, string>,
  options: PrometheusOptions,
  port: number,
): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ks-prometheus-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await writeFile(join(dir, 'prometheus.yml'), config);
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const flags = options.flags ?? [];
  const agent = flags.some((f) => /^--enable-feature=.*\bagent\b/.test(f));
  const child: ChildProcess = spawn(
    'prometheus',
    [
      ...flags,
      `--config.file=${join(dir, 'prometheus.yml')}`,
      agent
        ? `--storage.agent.path=${join(dir, 'wal')}`
        : `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
    },
  );
  let exited: string | undefined;
  child.on(
    'error',
    (err) => (exited = `prometheus could not start (Debian package prometheus): ${err.message}`),
  );
  child.on('exit', (code, signal) => (exited ??= `prometheus exited (${code ?? signal})`));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));

  const stop = async () => {
    if (exited === undefined) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== undefined) {
      await rm(dir, { recursive: true, force: true });
      if (/address already in use/.test(output)) throw new PortLost(output);
      throw new Error(`${exited}\n${output}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) {
      // Ours, not whatever took the port: it names our configuration file.
      if (await servesConfig(url, join(dir, 'prometheus.yml'))) break;
      await stop();
      throw new PortLost(`another server answers on ${url}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 20 s\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ query: expr }).toString(),
      });
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: unknown };
      };
      if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error ?? res.status}`);
      const { resultType, result } = body.data!;
      if (resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
      if (resultType !== 'vector') throw new Error(`query ${expr}: unexpected ${resultType}`);
      return result as PromSample[];
    },
    stop,
    log: () => output,
  };
}

/**
 * Ask `fn` every 250 ms until `ok` holds (Prometheus scrapes and evaluates on its own
 * clock); fail naming `what` and the last answer after `withinMs`.
 */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  withinMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(
    `${what} did not settle within ${withinMs / 1000} s; last answer: ${JSON.stringify(last)}`,
  );
}
