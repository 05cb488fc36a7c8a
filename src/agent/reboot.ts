/**
 * Asking the system to reboot (`activate --reboot`, `healthcheck --reboot`).
 * `systemctl reboot` where systemd runs, else `reboot`. KUBESOLO_UPDATE_REBOOT_COMMAND
 * replaces the command (tests, and systems with their own reboot tooling).
 *
 * A reboot argument (the Raspberry Pi's "0 tryboot", docs/boot.md) must reach reboot(2)
 * as LINUX_REBOOT_CMD_RESTART2's string, which Node cannot call and busybox `reboot`
 * drops: `systemctl reboot ARG` passes it; a custom command gets it in
 * KUBESOLO_UPDATE_REBOOT_ARG; anything else is refused (REBOOT_ARGUMENT_UNSUPPORTED)
 * rather than rebooting without it, which would silently skip the trial.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { OperationError } from '../errors.js';
import type { Logger } from '../log.js';

export function rebootCommand(
  env: NodeJS.ProcessEnv = process.env,
  argument?: string,
  systemd = existsSync('/run/systemd/system'),
): string[] {
  const custom = env.KUBESOLO_UPDATE_REBOOT_COMMAND;
  if (custom) return ['/bin/sh', '-c', custom];
  if (systemd)
    return argument === undefined ? ['systemctl', 'reboot'] : ['systemctl', 'reboot', argument];
  if (argument !== undefined) {
    throw new OperationError(
      'REBOOT_ARGUMENT_UNSUPPORTED',
      `this reboot must pass "${argument}" to reboot(2), which busybox reboot cannot: use systemd, or set KUBESOLO_UPDATE_REBOOT_COMMAND to a helper that calls reboot(2) with LINUX_REBOOT_CMD_RESTART2 and $KUBESOLO_UPDATE_REBOOT_ARG (docs/boot.md "Raspberry Pi tryboot")`,
      { details: { argument } },
    );
  }
  return ['reboot'];
}

/**
 * The reboot command's environment: KUBESOLO_UPDATE_REBOOT_ARG is this reboot's argument
 * and nothing else. An inherited one is dropped from an ordinary reboot: a leftover
 * "0 tryboot" would turn a rollback's reboot into the trial again (the watchdog stage
 * drops it the same way).
 */
function rebootEnvironment(env: NodeJS.ProcessEnv, argument?: string): NodeJS.ProcessEnv {
  const { KUBESOLO_UPDATE_REBOOT_ARG: _inherited, ...rest } = env;
  return argument === undefined ? rest : { ...rest, KUBESOLO_UPDATE_REBOOT_ARG: argument };
}

export async function requestReboot(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
  argument?: string,
): Promise<void> {
  const [cmd, ...args] = rebootCommand(env, argument) as [string, ...string[]];
  log.info('requesting reboot', {
    command: [cmd, ...args].join(' '),
    ...(argument ? { argument } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: 'inherit',
      env: rebootEnvironment(env, argument),
    });
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
