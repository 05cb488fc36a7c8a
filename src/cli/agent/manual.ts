/**
 * The agent manual page's FILES and ENVIRONMENT: the default device paths
 * (src/paths.ts) and the agent's own records beside state.json, each named by the
 * constant its module reads it by, and the environment variables the agent reads.
 */
import { dirname, join } from 'node:path';
import { DEVICE_ID_FILE } from '../../fleet/device-id.js';
import { DEFAULT_PATHS } from '../../paths.js';
import { FLOOR_FILE } from '../../stores/floor.js';
import { HOLD_FILE } from '../../stores/hold.js';
import { RELEASES_FILE } from '../../stores/releases.js';

const records = dirname(DEFAULT_PATHS.state);

export const AGENT_FILES: readonly (readonly [string, string])[] = [
  [DEFAULT_PATHS.config, 'The configuration: update.conf(5) (--conf PATH).'],
  [DEFAULT_PATHS.pubkey, 'The trusted release keys (pubkey=): one 64-hex key per line.'],
  [DEFAULT_PATHS.state, 'The update phase and its history (--state PATH).'],
  [join(records, 'update.lock'), 'The run lock of the commands that change the device.'],
  [join(records, FLOOR_FILE), 'The anti-rollback floor: releases below it are refused.'],
  [join(records, HOLD_FILE), "The operator's hold (hold, unhold)."],
  [join(records, RELEASES_FILE), 'Per release its last outcome and quarantine (forget).'],
  [join(records, DEVICE_ID_FILE), "The device's rollout identifier."],
  [DEFAULT_PATHS.grubenv, "GRUB's environment block: active_slot, boot_counter, boot_success."],
  [DEFAULT_PATHS.cmdline, 'kubesolo.slot= names the running slot.'],
  [DEFAULT_PATHS.boardIdentity, "The OS image's board name (compatible)."],
  [DEFAULT_PATHS.kubeconfig, 'The kubeconfig of the node label gate and the health checks.'],
];

export const AGENT_ENVIRONMENT: readonly (readonly [string, string])[] = [
  [
    'HTTPS_PROXY, HTTP_PROXY, NO_PROXY',
    'Proxy for update servers and registries, as curl reads them (lowercase too).',
  ],
  ['KUBECONFIG', 'Kubeconfig files to try when kubeconfig= is not set.'],
  [
    'KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT',
    "In a pod: the API server, with the pod's service account.",
  ],
  ['KUBESOLO_NODE_NAME', "This node's name (default: the host name; --node-name)."],
  ['KUBESOLO_UPDATE_REBOOT_COMMAND', 'A shell command run instead of systemctl reboot or reboot.'],
];
