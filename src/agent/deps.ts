/**
 * Everything the agent's commands need from the outside world: the one dependency
 * interface of the lifecycle and the health check decision, created once per command
 * (src/agent/context.ts) and passed down, so both are tested without root or a network.
 */
import type { BootEnv } from '../bootenv/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SlotStore } from '../slots/types.js';
import type { ProgressEvent, UpdateSource } from '../transport/source.js';
import type { FleetStore } from '../stores/fleet-store.js';
import type { LifecyclePolicy, NodeBlockInput } from '../gates/gates.js';
import type { Lock, LockMode } from '../stores/lock.js';
import type { StateStore } from '../stores/state.js';

/** Where download progress goes (the command line's renderer: a terminal line or log lines). */
export interface ProgressSink {
  onProgress(event: ProgressEvent): void;
  /** The downloads are over (ends a terminal progress line). */
  done(): void;
}

export interface AgentDeps {
  policy: LifecyclePolicy;
  bootEnv: BootEnv;
  slots: SlotStore;
  state: StateStore;
  /** The anti-rollback floor and the rollout device identifier. */
  fleet: FleetStore;
  clock: Clock;
  log: Logger;
  /** The configured update source; throws UsageError when none is configured. */
  openSource(): Promise<UpdateSource>;
  /** Node label lookup for the `updates.kubesolo.io/block` gate. */
  nodeBlock(): Promise<NodeBlockInput>;
  /** The kernel's boot id (changes on every boot), if known. */
  bootId(): Promise<string | undefined>;
  /** Take the run lock (src/stores/lock.ts); release it on every path. */
  lock(mode: LockMode): Promise<Lock>;
  /**
   * The delta index cache on the data partition (docs/delta.md); undefined: every
   * image is staged by one full download.
   */
  deltaCacheDir?: string;
  /** Aborted by SIGTERM/SIGINT (reason: an InterruptedError); the lifecycle stops cleanly. */
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** Called when the downloads are over (ends a terminal progress line). */
  onProgressDone?: () => void;
}
