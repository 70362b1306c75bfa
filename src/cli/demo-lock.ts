/**
 * The demo's folder lock: one pid file, so that a second demo in the same folder stops with an
 * error instead of deleting the etcd data, kubeconfig and logs of the first.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Name of the pid file in the demo folder. */
export const demoLockFile = 'demo.pid';

/** The demo folder is locked by another running process. */
export class DemoLockedError extends Error {
  readonly pid: number;

  constructor(pid: number, lockPath: string) {
    super(
      `another demo (pid ${pid}) is running in this folder; stop it or wait for it to end. ` +
        `If no demo runs (the pid now belongs to another program), delete ${lockPath}`,
    );
    this.name = 'DemoLockedError';
    this.pid = pid;
  }
}

export interface DemoLock {
  /** Deletes the pid file, unless another process has taken the folder over since. */
  release(): Promise<void>;
}

/**
 * Takes the demo folder `directory` (which must exist) for this process by creating its pid
 * file exclusively. A pid file of a process that no longer runs, e.g. of a demo killed with
 * SIGKILL, is replaced. Throws DemoLockedError while the recorded process runs.
 */
export async function acquireDemoLock(directory: string): Promise<DemoLock> {
  const lockPath = join(directory, demoLockFile);
  // Two rounds: the second follows the removal of a stale pid file.
  for (let round = 0; round < 2; round++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return { release: () => releaseLock(lockPath) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readPid(lockPath);
    if (holder !== undefined && isRunning(holder)) throw new DemoLockedError(holder, lockPath);
    await unlink(lockPath).catch(ignoreMissing);
  }
  // Another demo took the folder between the removal and the second create.
  const holder = await readPid(lockPath);
  throw new DemoLockedError(holder ?? 0, lockPath);
}

async function releaseLock(lockPath: string): Promise<void> {
  if ((await readPid(lockPath)) === process.pid) await unlink(lockPath).catch(ignoreMissing);
}

/** Returns the pid in the file, or undefined when the file is missing or contains no pid. */
async function readPid(lockPath: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    ignoreMissing(error);
    return undefined;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Tells whether a process with this pid exists; EPERM means it exists under another user. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
