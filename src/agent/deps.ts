/**
 * Everything the lifecycle needs from the outside world, created once by the CLI
 * (src/agent/context.ts) and passed down, so the lifecycle is tested without root or
 * a network.
 */
import type { BootEnv } from '../bootenv/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { SlotStore } from '../slots/types.js';
import type { ProgressEvent, UpdateSource } from '../transport/source.js';
import type { NodeBlockInput } from './gates.js';
import type { StateStore } from './state.js';

export interface LifecyclePolicy {
  channel: string | undefined;
  maintenanceWindow: string | undefined;
  /** IANA zone the window is read in; undefined: the process's local time. */
  timeZone?: string | undefined;
  /** Go name of this device's architecture. */
  architecture: string;
}

export interface AgentDeps {
  policy: LifecyclePolicy;
  bootEnv: BootEnv;
  slots: SlotStore;
  state: StateStore;
  clock: Clock;
  log: Logger;
  /** The configured update source; throws UsageError when none is configured. */
  openSource(): Promise<UpdateSource>;
  /** Node label lookup for the `updates.kubesolo.io/block` gate. */
  nodeBlock(): Promise<NodeBlockInput>;
  /** The kernel's boot id (changes on every boot), if known. */
  bootId(): Promise<string | undefined>;
  /** Aborted by SIGTERM/SIGINT (reason: an InterruptedError); the lifecycle stops cleanly. */
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** Called when the downloads are over (ends a terminal progress line). */
  onProgressDone?: () => void;
}
