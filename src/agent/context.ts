/**
 * Builds the agent's world once per command from the parsed global options: --root
 * checked, settings (flag > update.conf > default), paths under --root, and the
 * concrete BootEnv, SlotStore, StateStore, run lock, UpdateSource and Kubernetes
 * lookups behind AgentDeps. The only module of src/agent/ that names concrete
 * implementations.
 */
import { readBoardIdentity } from '../config/board.js';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createGrubBootEnv } from '../bootenv/grub-bootenv.js';
import type { BootEnv } from '../bootenv/types.js';
import { createTrybootBootEnv } from '../bootenv/tryboot-bootenv.js';
import { createUbootBootEnv } from '../bootenv/uboot-bootenv.js';
import { systemClock, type Clock } from '../clock.js';
import { loadConfigFile } from '../config/file.js';
import type { ConfigField } from '../config/keys.js';
import { configFromFlags, mergeOptions, type Settings } from '../config/merge.js';
import type { UpdateConfig } from '../config/types.js';
import { reportUnknownKeys, type UnknownKey } from '../config/unknown-keys.js';
import { resolveTimeZone } from '../config/time-zone.js';
import { ConfigError, errnoCode, toKubesoloError, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { metadataUrlFor } from '../metadata/url.js';
import { configPathUnder, DEFAULT_PATHS, underRoot } from '../paths.js';
import { readControlText } from '../fs/control-file.js';
import { createBlockSlotStore } from '../slots/block-store.js';
import { createDirSlotStore } from '../slots/dir-store.js';
import { agentFiles, assertSlotDirsApart, assertSlotKeysDistinct } from '../slots/slot-identity.js';
import type { SlotStore } from '../slots/types.js';
import type { UpdateSource } from '../transport/source.js';
import type { AgentDeps, ProgressSink } from './deps.js';
import { NODE_BLOCK_LABEL, type NodeBlockInput } from '../gates/gates.js';
import { goArch } from '../metadata/arch.js';
import { takeRunLock } from '../stores/lock.js';
import { createFleetStore } from '../stores/fleet-store.js';
import { createStateStore } from '../stores/state.js';

/** The window an activation needs when commit_deadline=0: the default commit deadline. */
const DEFAULT_ACTIVATION_MARGIN_SECONDS = 900;

/** What a command asks of the device, straight from its parsed global options. */
export interface AgentRequest {
  /** --root (default /): every device path is resolved under it. */
  root: string;
  /** --conf: device path of update.conf. */
  conf: string | undefined;
  /** --state: device path of state.json. */
  state: string | undefined;
  /** Raw command-line values of config keys, validated like update.conf values. */
  configFlags: Partial<Record<ConfigField, string>>;
  /** Unknown update.conf keys are an error instead of a warning (--strict). */
  strict: boolean;
}

export interface AgentOptions {
  /** Where download progress goes (none: not shown). */
  progress?: ProgressSink;
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

/**
 * A --root that is not there is a mistake, not an empty device: say so before a
 * command that works on a device reads defaults from it or creates directories under
 * it. (`cloud-init apply` may create the root: image builders write into a new tree.)
 */
function checkRoot(root: string): void {
  if (root === '/') return;
  let isDir: boolean;
  try {
    isDir = statSync(root).isDirectory();
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') return; // permission errors are explained later
    throw new UsageError(
      'ROOT_NOT_FOUND',
      `--root ${root} does not exist. Point --root at a device's root directory, or create a simulated device with 'kubesolo-update dev init-root ${root}'.`,
      { details: { root } },
    );
  }
  if (!isDir) {
    throw new UsageError('ROOT_NOT_A_DIRECTORY', `--root ${root} is not a directory`, {
      details: { root },
    });
  }
}

export interface DeviceConfig {
  /** update.conf under --root (read, or missing: an empty configuration). */
  path: string;
  /** The file's own values, before flags and defaults. */
  file: UpdateConfig;
  /** Keys the agent does not know, not yet reported. */
  unknownKeys: UnknownKey[];
}

/** Check --root and read the device's update.conf: the one place both happen. */
export async function readDeviceConfig(
  request: Pick<AgentRequest, 'root' | 'conf'>,
  log: Logger,
): Promise<DeviceConfig> {
  checkRoot(request.root);
  const path = configPathUnder(request.root, request.conf);
  const unknownKeys: UnknownKey[] = [];
  const file = await loadConfigFile(path, log, unknownKeys);
  return { path, file, unknownKeys };
}

/** The boot environment of the configured bootloader (docs/boot.md). */
function bootEnvFor(settings: Settings, paths: AgentPaths, log: Logger): BootEnv {
  switch (settings.bootloader) {
    case 'uboot':
      return createUbootBootEnv({
        configPath: underRoot(paths.root, settings.ubootEnvConfig),
        root: paths.root,
        cmdlinePath: paths.cmdline,
        log,
      });
    case 'rpi-tryboot':
      return createTrybootBootEnv({
        autobootPath: underRoot(paths.root, settings.autobootTxt),
        cmdlinePath: paths.cmdline,
        bootIdPath: paths.bootId,
        trybootFlagPath: underRoot(paths.root, DEFAULT_PATHS.trybootFlag),
        log,
      });
    default:
      return createGrubBootEnv({ grubenvPath: paths.grubenv, cmdlinePath: paths.cmdline, log });
  }
}

function slotStoreFor(
  settings: Settings,
  root: string,
  log: Logger,
  ownFiles: string[],
): SlotStore {
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
      { log, agentFiles: ownFiles.map((f) => underRoot(root, f)) },
    );
  }
  return createBlockSlotStore({
    labels: { A: settings.slotALabel, B: settings.slotBLabel },
    fsType: settings.slotFs,
    root,
    log,
  });
}

/** Where the trusted key set `pubkey` names is read (undefined: no key configured). */
export function keySetPath(settings: Settings, root: string): string | undefined {
  return settings.pubkey ? underRoot(root, settings.pubkey) : undefined;
}

// Sources and the Kubernetes client pull in undici and yaml: load them only when a
// command needs them, so `status` and `--help` start fast (bench/RESULTS.md).
function sourceOpener(
  settings: Settings,
  root: string,
  clock: Clock,
  log: Logger,
): () => Promise<UpdateSource> {
  return async function openSource(): Promise<UpdateSource> {
    // `pubkey` is a key set: a file of keys or a directory of *.pub files (key rotation).
    const { loadKeySet } = await import('../crypto/key-set.js');
    const keysAt = keySetPath(settings, root);
    const publicKeys = keysAt ? (await loadKeySet(keysAt)).map((k) => k.key) : undefined;
    // No key and no allow_unsigned: each source refuses before it fetches anything
    // (src/trust/refusal.ts, PUBKEY_REQUIRED), after "no update source" below.
    const common = {
      allowUnsignedMetadata: settings.allowUnsignedMetadata,
      allowUnsigned: settings.allowUnsigned,
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
        ...(publicKeys ? { publicKeys } : {}),
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
      ...(publicKeys ? { publicKeys } : {}),
    });
  };
}

/** The node block label (docs/operating.md): this node, read with the pod's account or the node's kubeconfig. */
function nodeBlockReader(
  root: string,
  kubeconfig: string | undefined,
  log: Logger,
): () => Promise<NodeBlockInput> {
  return async function nodeBlock(): Promise<NodeBlockInput> {
    const { loadKubeClient, localNodeName } = await import('../kube/index.js');
    let client;
    try {
      // The file's own key (not the merged default) so that KUBECONFIG can apply.
      client = await loadKubeClient({
        root,
        kubeconfigPath: kubeconfig,
        env: process.env,
      });
    } catch (err) {
      return { kind: 'unreachable', error: toKubesoloError(err).code };
    }
    if (!client) return { kind: 'no-kubeconfig' };
    try {
      // This node by name (all the pods' ServiceAccount may read); when KubeSolo
      // registered it under another name, every node of the single-node cluster.
      const nodes = await client.getNode(localNodeName()).then(
        (node) => [node],
        async (err: unknown) => {
          if (toKubesoloError(err).code !== 'KUBE_NOT_FOUND') throw err;
          return (await client.listNodes()).items;
        },
      );
      const blocked = nodes
        .filter((n) => n.metadata.labels?.[NODE_BLOCK_LABEL] === 'true')
        .map((n) => n.metadata.name ?? '(unnamed)');
      return { kind: 'checked', blockedNodes: blocked };
    } catch (err) {
      const e = toKubesoloError(err);
      log.warn('could not read the node labels; the block label is not checked', { code: e.code });
      return { kind: 'unreachable', error: e.code };
    } finally {
      client.close();
    }
  };
}

export async function createAgentContext(
  request: AgentRequest,
  log: Logger,
  options: AgentOptions = {},
): Promise<AgentContext> {
  const root = request.root;
  const clock = options.clock ?? systemClock;
  const config = await readDeviceConfig(request, log);
  const fileConfig = config.file;
  const unknownConfigKeys = config.unknownKeys;
  reportUnknownKeys(unknownConfigKeys, log, request.strict);
  const settings = mergeOptions(configFromFlags(request.configFlags), fileConfig);
  // Aliased slots are refused before anything runs (the stores prove it again on disk).
  assertSlotKeysDistinct(settings);
  if (settings.server && settings.registry) {
    throw new UsageError(
      'CONFLICTING_OPTIONS',
      'both server and registry are set; choose one (a flag overrides only its own key)',
    );
  }

  const statePath = underRoot(root, request.state ?? DEFAULT_PATHS.state);
  const paths: AgentPaths = {
    root,
    config: config.path,
    state: statePath,
    lock: `${dirname(statePath)}/update.lock`,
    grubenv: underRoot(root, settings.grubenv),
    cmdline: underRoot(root, DEFAULT_PATHS.cmdline),
    bootId: underRoot(root, '/proc/sys/kernel/random/boot_id'),
    dataDir: underRoot(root, DEFAULT_PATHS.dataDir),
  };

  const bootEnv = bootEnvFor(settings, paths, log);
  const ownFiles = agentFiles(settings, {
    config: request.conf ?? DEFAULT_PATHS.config,
    state: request.state ?? DEFAULT_PATHS.state,
  });
  if (settings.slotBackend === 'dir') assertSlotDirsApart(settings, ownFiles);
  const slots = slotStoreFor(settings, root, log, ownFiles);
  const state = createStateStore(paths.state, clock, log);
  const fleet = createFleetStore(
    { state: paths.state, machineId: underRoot(root, DEFAULT_PATHS.machineId) },
    clock,
    log,
  );

  const openSource = sourceOpener(settings, root, clock, log);
  const nodeBlock = nodeBlockReader(root, fileConfig.kubeconfig, log);

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
      // A trial must commit within commit_deadline: that much of the window must be
      // left to activate (0 turns the watchdog off, not the need for time: the default).
      activationMarginSeconds: settings.commitDeadline || DEFAULT_ACTIVATION_MARGIN_SECONDS,
      board: await readBoardIdentity(
        underRoot(root, DEFAULT_PATHS.boardIdentity),
        settings.compatible,
        'update.conf compatible',
      ),
    },
    bootEnv,
    slots,
    state,
    fleet,
    clock,
    log,
    openSource,
    nodeBlock,
    async bootId() {
      const text = await readControlText(paths.bootId, { maxBytes: 4096 }).catch(() => '');
      return text.trim() || undefined;
    },
    lock: (mode) => takeRunLock(paths.lock, mode, log),
    // Next to state.json, on the data partition: it outlives both slots.
    deltaCacheDir: `${dirname(paths.state)}/delta`,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.progress
      ? {
          onProgress: (e) => options.progress?.onProgress(e),
          onProgressDone: () => options.progress?.done(),
        }
      : {}),
  };
  return { settings, unknownConfigKeys, paths, deps };
}
