/**
 * Asking the system to reboot (`activate --reboot`, `healthcheck --reboot`).
 * `systemctl reboot` where systemd runs, else `reboot`. KUBESOLO_UPDATE_REBOOT_COMMAND
 * replaces the command (tests, and systems with their own reboot tooling).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { OperationError } from '../errors.js';
import type { Logger } from '../log.js';

export function rebootCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env.KUBESOLO_UPDATE_REBOOT_COMMAND;
  if (custom) return ['/bin/sh', '-c', custom];
  if (existsSync('/run/systemd/system')) return ['systemctl', 'reboot'];
  return ['reboot'];
}

export async function requestReboot(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const [cmd, ...args] = rebootCommand(env) as [string, ...string[]];
  log.info('requesting reboot', { command: [cmd, ...args].join(' ') });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', (err) =>
      reject(new OperationError('REBOOT_FAILED', `could not run ${cmd}`, { cause: err })),
    );
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new OperationError('REBOOT_FAILED', `${cmd} exited with ${String(code)}`)),
    );
  });
}
