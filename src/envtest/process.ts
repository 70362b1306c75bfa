import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Output of a finished command. */
export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options for runCommand. */
export interface RunCommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Text written to the command's standard input, which is otherwise empty. */
  input?: string;
}

/**
 * Runs program to completion and returns its output. Throws when it cannot start or exits with
 * a non-zero status, and the error includes the end of its stderr.
 */
export function runCommand(
  program: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    registerChild(child.pid, () => child.kill('SIGKILL'));

    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdin.end(options.input ?? '');

    child.once('error', (error) => {
      unregisterChild(child.pid);
      reject(new Error(`failed to start ${program}: ${error.message}`, { cause: error }));
    });
    child.once('close', (exitCode, signal) => {
      unregisterChild(child.pid);
      const result = {
        exitCode,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (exitCode === 0) {
        resolve(result);
        return;
      }
      const status = signal === null ? `status ${exitCode}` : `signal ${signal}`;
      const tail = lastLines(result.stderr, 30);
      reject(new Error(`${program} ${args.join(' ')} failed with ${status}:\n${tail}`));
    });
  });
}

/** Exit status of a managed process. */
export interface ProcessExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Options for startManagedProcess. */
export interface ManagedProcessOptions {
  /** Short name for messages, such as "etcd". */
  name: string;
  program: string;
  args: readonly string[];
  /** File that receives the process's stdout and stderr, appended to. */
  logPath: string;
  /**
   * Path of isc-envtest-helper. When set, the process starts through `helper exec`, so the
   * kernel kills it if this Node process dies without running its exit handlers (Linux only).
   */
  helperPath?: string;
}

/** A long-running child process whose output goes to a log file. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the process has exited, never rejects. */
  readonly exited: Promise<ProcessExit>;
  /** Whether the process has exited. */
  hasExited(): boolean;
  /**
   * Sends SIGTERM, then SIGKILL if the process is still running after gracePeriodMs, and
   * resolves once it has exited. Calling it again returns the same promise.
   */
  stop(gracePeriodMs: number): Promise<ProcessExit>;
}

/** Starts program in the background, writing its output to options.logPath. */
export async function startManagedProcess(options: ManagedProcessOptions): Promise<ManagedProcess> {
  const logFd = openSync(options.logPath, 'a');
  const [program, args] =
    options.helperPath === undefined
      ? [options.program, options.args]
      : [options.helperPath, ['exec', String(process.pid), options.program, ...options.args]];

  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(program, args, { stdio: ['ignore', logFd, logFd] });
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(logFd);
  }

  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', (error) =>
      reject(new Error(`failed to start ${options.name} (${program}): ${error.message}`)),
    );
  });
  registerChild(pid, () => child.kill('SIGKILL'));

  let exitInfo: ProcessExit | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (exitCode, signal) => {
      unregisterChild(pid);
      exitInfo = { exitCode, signal };
      resolve(exitInfo);
    });
  });

  let stopping: Promise<ProcessExit> | undefined;
  const stop = (gracePeriodMs: number): Promise<ProcessExit> => {
    stopping ??= terminate(child, exited, () => exitInfo !== undefined, gracePeriodMs);
    return stopping;
  };

  return {
    name: options.name,
    pid,
    logPath: options.logPath,
    exited,
    hasExited: () => exitInfo !== undefined,
    stop,
  };
}

async function terminate(
  child: ReturnType<typeof spawn>,
  exited: Promise<ProcessExit>,
  hasExited: () => boolean,
  gracePeriodMs: number,
): Promise<ProcessExit> {
  if (hasExited()) {
    return exited;
  }
  child.kill('SIGTERM');

  let timer: NodeJS.Timeout | undefined;
  const graceExpired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), gracePeriodMs);
  });
  const outcome = await Promise.race([exited, graceExpired]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
  }
  return exited;
}

/** Returns the last lineCount lines of the file at path, or a note when it cannot be read. */
export async function readLogTail(path: string, lineCount = 40): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    // Reading only the end keeps this cheap for multi-megabyte apiserver logs.
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return lastLines(buffer.toString('utf8'), lineCount);
  } catch (error) {
    return `(log ${path} not readable: ${(error as Error).message})`;
  } finally {
    await handle?.close();
  }
}

function lastLines(text: string, lineCount: number): string {
  return text.trimEnd().split('\n').slice(-lineCount).join('\n');
}

// Process-wide cleanup. Child processes are killed when Node exits or receives SIGINT, SIGTERM
// or SIGHUP, and the exit cleanups (such as removing a cluster directory) run after that.

const liveChildren = new Map<number, () => void>();
const exitCleanups = new Set<() => void>();
let handlersInstalled = false;

function registerChild(pid: number | undefined, kill: () => void): void {
  if (pid === undefined) {
    return;
  }
  installExitHandlers();
  liveChildren.set(pid, kill);
}

function unregisterChild(pid: number | undefined): void {
  if (pid !== undefined) {
    liveChildren.delete(pid);
  }
}

/**
 * Registers cleanup to run synchronously when the process exits, after all children were sent
 * SIGKILL. Returns a function that unregisters it.
 */
export function registerExitCleanup(cleanup: () => void): () => void {
  installExitHandlers();
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

function runExitCleanup(): void {
  for (const kill of liveChildren.values()) {
    try {
      kill();
    } catch {
      // The child is already gone.
    }
  }
  liveChildren.clear();
  for (const cleanup of exitCleanups) {
    try {
      cleanup();
    } catch {
      // Best effort while exiting: there is no caller left to report to.
    }
  }
  exitCleanups.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) {
    return;
  }
  handlersInstalled = true;
  process.once('exit', runExitCleanup);

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      runExitCleanup();
      // A listener suppresses Node's default exit on the signal. When no one else listens,
      // remove ours and raise the signal again so the process still ends as it would have.
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) {
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
