/**
 * The images a device already holds, for the delta update (docs/delta.md "On the
 * device"): the running slot's (read-only, its journal not replayed) and the target
 * slot's old one, under the names the index cache knows them by. `apply` stages with
 * them; `check` estimates with them.
 */
import { join } from 'node:path';
import type { Slot } from '../../bootenv/types.js';
import { IndexCache } from '../../transport/delta/cache.js';
import type { DeltaOptions } from '../../transport/delta/stage.js';
import { imageFile, type ArtifactName } from '../../metadata/images.js';
import type { AgentDeps } from '../deps.js';

/**
 * The running slot, read-only, for the delta update's seeds (docs/delta.md). A slot
 * that cannot be opened costs only the bytes it would have saved: `fn` runs without it.
 */
export async function withRunningSlot<T>(
  deps: AgentDeps,
  running: Slot,
  fn: (dir: string | undefined) => Promise<T>,
): Promise<T> {
  if (deps.deltaCacheDir === undefined) return fn(undefined);
  let ran = false;
  try {
    return await deps.slots.openReader(running, (dir) => {
      ran = true;
      return fn(dir);
    });
  } catch (err) {
    if (ran) throw err;
    deps.log.info('the running slot cannot be read; staging without it', {
      slot: running,
      error: err instanceof Error ? err.message : String(err),
    });
    return fn(undefined);
  }
}

/** What the delta update may reuse for one image: the running image and the target's old one. */
export function deltaOptions(
  deps: AgentDeps,
  artifact: ArtifactName,
  at: { running: Slot; runningDir: string | undefined; target: Slot; targetDir: string },
): DeltaOptions | undefined {
  if (deps.deltaCacheDir === undefined) return undefined;
  const file = imageFile(artifact);
  const seeds = [
    ...(at.runningDir === undefined
      ? []
      : [{ label: 'running', key: `${at.running}/${artifact}`, path: join(at.runningDir, file) }]),
    { label: 'passive', key: `${at.target}/${artifact}`, path: join(at.targetDir, file) },
  ];
  return {
    cache: new IndexCache(deps.deltaCacheDir),
    seeds,
    targetKey: `${at.target}/${artifact}`,
  };
}
