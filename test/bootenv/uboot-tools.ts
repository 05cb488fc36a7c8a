/**
 * The real U-Boot environment tools, the oracles of the U-Boot codec: `mkenvimage`
 * (Debian u-boot-tools) and libubootenv's `fw_printenv` / `fw_setenv` (Debian
 * libubootenv-tool). Under root (CI) a missing tool fails the test (require-tool.ts).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { KubesoloError } from '../../src/errors.js';
import { toolSkipReason } from '../helpers/require-tool.js';
import { hasReason } from '../helpers/rejects.js';

export function ubootToolsSkipReason(): string | false {
  return toolSkipReason(
    ['mkenvimage', 'fw_printenv', 'fw_setenv'],
    'u-boot-tools libubootenv-tool',
  );
}

export interface ToolResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export function tool(cmd: string, args: string[], input?: Buffer): ToolResult {
  const r = spawnSync(cmd, args, { input, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

export function toolOk(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = tool(cmd, args, input);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** mkenvimage over `name=value` lines (bytes as given), to `out`. */
export function mkenvimage(
  out: string,
  lines: Iterable<readonly [string, string]>,
  opts: { size: number; redundant?: boolean; pad?: number },
): void {
  const text = Buffer.from([...lines].map(([k, v]) => `${k}=${v}\n`).join(''), 'latin1');
  toolOk(
    'mkenvimage',
    [
      '-s',
      `0x${opts.size.toString(16)}`,
      ...(opts.redundant ? ['-r'] : []),
      ...(opts.pad === undefined ? [] : ['-p', `0x${opts.pad.toString(16)}`]),
      '-o',
      out,
      '-',
    ],
    text,
  );
}

/** Write an fw_env.config with one line per copy. */
export function fwEnvConfig(
  path: string,
  copies: { device: string; offset: number; size: number }[],
): void {
  writeFileSync(
    path,
    copies.map((c) => `${c.device} 0x${c.offset.toString(16)} 0x${c.size.toString(16)}\n`).join(''),
  );
}

/** `fw_printenv -c CONFIG`: the variables, as libubootenv reads them (latin1 bytes). */
export function fwPrintenv(config: string): Map<string, string> {
  const out = toolOk('fw_printenv', ['-c', config]).toString('latin1');
  const vars = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const i = line.indexOf('=');
    vars.set(line.slice(0, i), line.slice(i + 1));
  }
  return vars;
}

/** `fw_printenv -c CONFIG` as raw bytes. */
export function fwPrintenvRaw(config: string): ToolResult {
  return tool('fw_printenv', ['-c', config]);
}

/** `fw_setenv -c CONFIG -s SCRIPT` with `name=value` lines (an empty value deletes). */
export function fwSetenvScript(config: string, script: string, lines: [string, string][]): void {
  writeFileSync(script, Buffer.from(lines.map(([k, v]) => `${k}=${v}\n`).join(''), 'latin1'));
  toolOk('fw_setenv', ['-c', config, '-s', script]);
}

/**
 * `fn` throws a KubesoloError with `code` and, when given, these details. The code is
 * recorded (hasReason) with the exit it carries.
 */
export function expectCode(
  fn: () => unknown,
  code: string,
  details: Record<string, unknown> = {},
): KubesoloError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KubesoloError, `expected ${code}, got ${String(err)}`);
    hasReason(code)(err);
    for (const [k, v] of Object.entries(details))
      assert.equal(err.details[k], v, `${k}: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}
