/**
 * The command model shared by both binaries: one file per command under
 * src/cli/agent/ and src/cli/release/, each exporting a `Command`.
 */
import { UsageError, type ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Output } from './output.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in --help. */
  description: string;
  /** Placeholder for the value in --help, e.g. DIR. */
  valueName?: string;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext<G = unknown> {
  /** Parsed option values (global and command options together), keyed by long name. */
  values: OptionValues;
  positionals: string[];
  /** Typed global options of the binary. */
  global: G;
  log: Logger;
  out: Output;
}

export interface Command<G = unknown> {
  name: string;
  summary: string;
  /** Usage line after the binary name, e.g. "apply [options]". */
  usage?: string;
  /** Longer help text. */
  description?: string;
  options?: Record<string, OptionSpec>;
  /**
   * Program global options this command reads besides the shared ones
   * (Program.sharedGlobals); only these are accepted and listed in its --help.
   */
  globals?: readonly string[];
  /**
   * Old spellings still accepted, hidden from help: alias → option name. The value is
   * stored under the option name.
   */
  aliases?: Record<string, string>;
  subcommands?: Command<G>[];
  run?(ctx: CommandContext<G>): Promise<ExitCode | void>;
}

export interface Program<G> {
  name: string;
  summary: string;
  version: string;
  globalOptions: Record<string, OptionSpec>;
  /** Global options every command reads (the rest only where a command names them). */
  sharedGlobals: readonly string[];
  commands: Command<G>[];
  /** What to do about a permission error, e.g. "Run as root on the device, or pass --root DIR". */
  permissionHint: string;
  /** The manual page's FILES: path and what it is. */
  files: readonly (readonly [string, string])[];
  /** The manual page's ENVIRONMENT: variable and what it does. */
  environment: readonly (readonly [string, string])[];
  /** Further manual pages `man NAME` prints (update.conf(5)), rendered on demand. */
  pages?: Readonly<Record<string, () => string>>;
  /** Turn parsed values into typed globals; throws UsageError on bad combinations. */
  makeGlobal(values: OptionValues): G;
}

export function stringOpt(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function boolOpt(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/**
 * The one positional argument of a command that takes exactly one: MISSING_ARGUMENT,
 * with `message` saying what it needs, when there is none or more than one.
 */
export function onlyPositional(positionals: readonly string[], message: string): string {
  const only = positionals[0];
  if (only === undefined || positionals.length > 1) {
    throw new UsageError('MISSING_ARGUMENT', message);
  }
  return only;
}

/** A repeatable option's values (`--wave A --wave B`), in the order given. */
export function listOpt(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v;
  return typeof v === 'string' ? [v] : [];
}
