/**
 * What the review commands (validate, plan, export) share: their streams and environment, passed
 * in so tests can capture them, and argument parsing that reports a usage error.
 */
import { writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ProgressStream } from './progress.ts';

export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
  stdin: Readable;
  env: Record<string, string | undefined>;
  /** Stream for the progress of long reads, shown only when it is a TTY. */
  progress?: ProgressStream | undefined;
  /** Current time; tests pin it so that token rotation does not depend on the clock. */
  now?: () => Date;
}

export const processIo: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stdin: process.stdin,
  env: process.env,
  progress: process.stderr,
};

/** Writes a command's result to the --output file, replacing it, or to stdout without one. */
export async function writeResult(io: CommandIo, path: string | undefined, text: string) {
  if (path === undefined) io.stdout(text);
  else await writeFile(path, text);
}

/** Exit codes shared by the review commands. */
export const exitCodes = {
  ok: 0,
  /** validate: a document is invalid; plan: invalid documents, policy violations or ISC errors. */
  failed: 1,
  usage: 2,
  /** plan: applying the files would change the tenant. */
  changes: 3,
} as const;

/** Wrong or missing command-line arguments; the command prints it with a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Prints a usage error of `command` (e.g. "plan", "export csv") in one line, followed by where
 * to find the usage, and returns the usage exit code. The full help text would bury the error.
 */
export function reportUsageError(io: CommandIo, command: string, error: UsageError): number {
  io.stderr(`${usageErrorText(command, error.message)}\n`);
  return exitCodes.usage;
}

/** Formats a usage error of `command` and the hint to run it with --help. */
export function usageErrorText(command: string, message: string): string {
  return `${command}: ${message}\nrun 'isc-sa-operator ${command} --help' for usage`;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses options strictly; an unknown option or a missing value throws UsageError. */
export function parseCommandArgs<T extends Options>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // Node appends a hint about '--' to an unknown option, which only lengthens the line.
    const message = (error as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new UsageError(unknown ? `unknown option ${unknown[1]}` : message);
  }
}

/** Returns the value of an option that must be one of `choices`. */
export function choice<T extends string>(
  name: string,
  value: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, not "${value}"`);
  }
  return value as T;
}
