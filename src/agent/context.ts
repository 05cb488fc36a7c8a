/**
 * Builds the agent's world once per command from the global options: settings
 * (flag > update.conf > default), paths under --root, and the concrete BootEnv,
 * SlotStore, StateStore, UpdateSource and Kubernetes lookups behind AgentDeps.
 * The only module of src/agent/ that names concrete implementations.
 */
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { createGrubBootEnv } from '../bootenv/grub-bootenv.js';
import { systemClock, type Clock } from '../clock.js';
import { configFromFlags, loadConfigFile, mergeOptions, type Settings } from '../config/index.js';
import type { ConfigField } from '../config/keys.js';
import { reportUnknownKeys, type UnknownKey } from '../config/unknown-keys.js';
import { resolveTimeZone } from '../config/time-zone.js';
import { ConfigError, toKubesoloError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_PATHS, underRoot } from '../paths.js';
import { readControlText } from '../fs/control-file.js';
import { createBlockSlotStore } from '../slots/block-store.js';
import { createDirSlotStore } from '../slots/dir-store.js';
import { assertSlotKeysDistinct } from '../slots/slot-identity.js';
import type { SlotStore } from '../slots/types.js';
import { createProgressRenderer } from '../transport/progress.js';
import type { UpdateSource } from '../transport/source.js';
import type { AgentDeps } from './deps.js';
import { goArch, NODE_BLOCK_LABEL, type NodeBlockInput } from './gates.js';
import { createStateStore } from './state.js';

export interface AgentInputs {
  root: string;
  confPath: string | undefined;
  statePath: string | undefined;
  /** Raw command-line values of config keys, validated like update.conf values. */
  flags: Partial<Record<ConfigField, string>>;
  /** Show download progress (a terminal line, or periodic log lines). */
  progress: boolean;
  /** Unknown update.conf keys are an error instead of a warning (--strict). */
  strict?: boolean;
  clock?: Clock;
  /** Aborts the running work (SIGTERM/SIGINT). */
  signal?: AbortSignal;
}

export interface AgentPaths {
  root: string;
  config: string;
  state: string;
  lock: string;
  grubenv: string;
  cmdline: string;
  bootId: string;
  dataDir: string;
}

export interface AgentContext {
  settings: Settings;
  /** update.conf keys the agent does not know (already warned about). */
  unknownConfigKeys: UnknownKey[];
  paths: AgentPaths;
  deps: AgentDeps;
}

/** `server=` names the directory holding latest.json, or latest.json itself. */
export function metadataUrlFor(server: string): string {
  if (/\.json($|\?)/.test(server)) return server;
  return server.replace(/\/+$/, '') + '/latest.json';
}

function slotStoreFor(settings: Settings, root: string, log: Logger): SlotStore {
  if (settings.slotBackend === 'dir') {
    if (!settings.slotADir || !settings.slotBDir) {
      throw new ConfigError(
        'CONFIG_MISSING_KEY',
        'slot_backend=dir needs slot_a_dir and slot_b_dir',
      );
    }
    return createDirSlotStore(
      {
        A: underRoot(root, settings.slotADir),
        B: underRoot(root, settings.slotBDir),
      },
      { log },
    );
  }
  return createBlockSlotStore({
    labels: { A: settings.slotALabel, B: settings.slotBLabel },
    root,
    log,
  });
}

export async function createAgentContext(inputs: AgentInputs, log: Logger): Promise<AgentContext> {
  const root = inputs.root;
  const clock = inputs.clock ?? systemClock;
  const configPath = underRoot(root, inputs.confPath ?? DEFAULT_PATHS.config);
  const unknownConfigKeys: UnknownKey[] = [];
  const fileConfig = await loadConfigFile(configPath, log, unknownConfigKeys);
  reportUnknownKeys(unknownConfigKeys, log, inputs.strict === true);
  const settings = mergeOptions(configFromFlags(inputs.flags), fileConfig);
  // Aliased slots are refused before anything runs (the stores prove it again on disk).
  assertSlotKeysDistinct(settings);
  if (settings.server && settings.registry) {
    throw new UsageError(
      'CONFLICTING_OPTIONS',
      'both server and registry are set; choose one (a flag overrides only its own key)',
    );
  }

  const statePath = underRoot(root, inputs.statePath ?? DEFAULT_PATHS.state);
  const paths: AgentPaths = {
    root,
    config: configPath,
    state: statePath,
    lock: `${dirname(statePath)}/update.lock`,
    grubenv: underRoot(root, settings.grubenv),
    cmdline: underRoot(root, DEFAULT_PATHS.cmdline),
    bootId: underRoot(root, '/proc/sys/kernel/random/boot_id'),
    dataDir: underRoot(root, DEFAULT_PATHS.dataDir),
  };

  const bootEnv = createGrubBootEnv({ grubenvPath: paths.grubenv, cmdlinePath: paths.cmdline });
  const slots = slotStoreFor(settings, root, log);
  const state = createStateStore(paths.state, clock, log);

  // Sources and the Kubernetes client pull in undici and yaml: load them only when a
  // command needs them, so `status` and `--help` start fast (bench/RESULTS.md).
  async function openSource(): Promise<UpdateSource> {
    const { loadPublicKey } = await import('../crypto/keys.js');
    const publicKey = settings.pubkey
      ? await loadPublicKey(underRoot(root, settings.pubkey))
      : undefined;
    const common = {
      allowUnsignedMetadata: settings.allowUnsignedMetadata,
      ...(settings.caFile ? { caFile: underRoot(root, settings.caFile) } : {}),
      log,
    };
    if (settings.registry) {
      const { createOciUpdateSource } = await import('../transport/oci/source.js');
      return createOciUpdateSource({
        ...common,
        clock,
        registry: settings.registry,
        ...(settings.tag ? { tag: settings.tag } : {}),
        architecture: goArch(),
        ...(publicKey ? { publicKey: Buffer.from(publicKey) } : {}),
        credentials: {
          ...(settings.registryUsername ? { username: settings.registryUsername } : {}),
          ...(settings.registryPassword ? { password: settings.registryPassword } : {}),
          ...(settings.registryAuthFile
            ? { authFile: underRoot(root, settings.registryAuthFile) }
            : {}),
        },
      });
    }
    if (!settings.server) {
      throw new UsageError(
        'NO_UPDATE_SOURCE',
        'no update source: set server= (or registry=) in update.conf, or pass --server/--registry',
      );
    }
    const { createHttpUpdateSource } = await import('../transport/http-source.js');
    return createHttpUpdateSource({
      ...common,
      clock,
      metadataUrl: metadataUrlFor(settings.server),
      ...(publicKey ? { publicKey } : {}),
    });
  }

  async function nodeBlock(): Promise<NodeBlockInput> {
    const { loadKubeClient } = await import('../kube/index.js');
    let client;
    try {
      // The file's own key (not the merged default) so that KUBECONFIG can apply.
      client = await loadKubeClient({
        root,
        kubeconfigPath: fileConfig.kubeconfig,
        env: process.env,
      });
    } catch (err) {
      return { kind: 'unreachable', error: toKubesoloError(err).code };
    }
    if (!client) return { kind: 'no-kubeconfig' };
    try {
      const nodes = (await client.listNodes()).items;
      // A single-node cluster: look at this host's node, or every node when the
      // names differ (KubeSolo may register under another name).
      const mine = nodes.filter((n) => n.metadata.name === hostname());
      const relevant = mine.length > 0 ? mine : nodes;
      const blocked = relevant
        .filter((n) => n.metadata.labels?.[NODE_BLOCK_LABEL] === 'true')
        .map((n) => n.metadata.name ?? '(unnamed)');
      return { kind: 'checked', blockedNodes: blocked };
    } catch (err) {
      const e = toKubesoloError(err);
      log.warn('could not read the node labels; the block label is not checked', { code: e.code });
      return { kind: 'unreachable', error: e.code };
    }
  }

  const progress = createProgressRenderer({ log });
  // The zone matters only for a window; without one /etc/localtime is not even read.
  const timeZone = settings.maintenanceWindow
    ? (await resolveTimeZone({ configured: settings.timeZone, root, log })).zone
    : undefined;
  const deps: AgentDeps = {
    policy: {
      channel: settings.channel,
      maintenanceWindow: settings.maintenanceWindow,
      timeZone,
      architecture: goArch(),
    },
    bootEnv,
    slots,
    state,
    clock,
    log,
    openSource,
    nodeBlock,
    async bootId() {
      const text = await readControlText(paths.bootId, { maxBytes: 4096 }).catch(() => '');
      return text.trim() || undefined;
    },
    ...(inputs.signal ? { signal: inputs.signal } : {}),
    ...(inputs.progress
      ? { onProgress: (e) => progress.onProgress(e), onProgressDone: () => progress.done() }
      : {}),
  };
  return { settings, unknownConfigKeys, paths, deps };
}
