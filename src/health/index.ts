/** Health checks (issue #6): what `healthcheck` runs before committing a new slot. */
export * from './types.js';
export {
  DEFAULT_CHECK_TIMEOUT_MS,
  DEFAULT_STABLE_SECONDS,
  parseHealthChecks,
  requiredChecks,
  runHealthChecks,
  waitForHealthy,
  type WaitOptions,
  type WaitResult,
} from './run.js';
export { containerdVersion, checkContainerd, DEFAULT_CONTAINERD_SOCKET } from './containerd.js';
export {
  checkApiserver,
  checkKubeSystem,
  checkNodeReady,
  judgePod,
  selectLocalNode,
} from './kube-checks.js';
export { checkDiskWritable } from './disk.js';
export { checkProbeUrl } from './probe.js';
