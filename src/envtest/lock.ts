import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EnvtestLogger } from './logger.ts';

/** Options for acquireFileLock. */
export interface FileLockOptions {
  /** Time to wait for another holder before giving up, in milliseconds. */
  timeoutMs: number;
  /** Delay between attempts, in milliseconds. */
  pollIntervalMs?: number;
  logger: EnvtestLogger;
}

/**
 * Takes an exclusive lock between processes on one machine by creating lockPath with O_EXCL.
 * The file holds the owner's PID and host name, so a lock left by a process that has died on
 * this host is removed and taken over. Returns a function that releases the lock.
 */
export async function acquireFileLock(
  lockPath: string,
  options: FileLockOptions,
): Promise<() => Promise<void>> {
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const started = Date.now();
  let lastReport = 0;

  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${process.pid}\n${hostname()}\n`);
      await handle.close();
      return () => unlink(lockPath).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }

    const owner = await readLockOwner(lockPath);
    if (owner !== undefined && owner.host === hostname() && !isProcessAlive(owner.pid)) {
      options.logger.warn({ lockPath, ownerPid: owner.pid }, 'removing lock of exited process');
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (owner === undefined && (await isOlderThan(lockPath, 60_000))) {
      // The owner died between creating the file and writing its PID into it.
      options.logger.warn({ lockPath }, 'removing lock file without an owner');
      await unlink(lockPath).catch(() => undefined);
      continue;
    }

    const waitedMs = Date.now() - started;
    if (waitedMs > options.timeoutMs) {
      throw new Error(
        `timed out after ${Math.round(waitedMs / 1000)} s waiting for lock ${lockPath} held by ` +
          `PID ${owner?.pid ?? 'unknown'}; delete the file if that process is gone`,
      );
    }
    if (waitedMs - lastReport >= 30_000 || lastReport === 0) {
      lastReport = Math.max(waitedMs, 1);
      options.logger.info(
        { lockPath, ownerPid: owner?.pid, waitedSeconds: Math.round(waitedMs / 1000) },
        'waiting for another process that holds the lock',
      );
    }
    await sleep(pollIntervalMs);
  }
}

async function readLockOwner(lockPath: string): Promise<{ pid: number; host: string } | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, host] = text.split('\n');
  const pid = Number(pidText);
  // An empty or partial file means the owner is between creating and writing it.
  if (!Number.isInteger(pid) || pid <= 0 || host === undefined || host === '') {
    return undefined;
  }
  return { pid, host };
}

async function isOlderThan(path: string, ageMs: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(path)).mtimeMs > ageMs;
  } catch {
    return false;
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM means the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
