import { createHash } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheRoot } from './cache.ts';
import type { EnvtestLogger } from './logger.ts';
import { runCommand } from './process.ts';

/** Options for ensureEnvtestHelper. */
export interface EnsureEnvtestHelperOptions {
  logger: EnvtestLogger;
  /** Cache root. Defaults to `${XDG_CACHE_HOME:-$HOME/.cache}/isc-sa-operator`. */
  cacheRoot?: string;
}

const helperSourceDirectory = fileURLToPath(new URL('./helper/', import.meta.url));
const helperBinaryName = 'isc-envtest-helper';

/**
 * Finds or builds isc-envtest-helper and returns its path. It builds from src/envtest/helper
 * when the cache has no build of the current source. The helper uses only the Go standard
 * library, so the build needs `go` but no network and takes seconds.
 */
export async function ensureEnvtestHelper(options: EnsureEnvtestHelperOptions): Promise<string> {
  const cacheRoot = options.cacheRoot ?? defaultCacheRoot();
  const sourceHash = await hashHelperSource();
  const directory = join(cacheRoot, `envtest-helper-${sourceHash}`);
  const binary = join(directory, helperBinaryName);
  try {
    await access(binary, constants.X_OK);
    return binary;
  } catch {
    // Not built yet for this source.
  }

  const started = Date.now();
  options.logger.info({ directory }, 'building isc-envtest-helper');
  await mkdir(cacheRoot, { recursive: true });
  const workDirectory = await mkdtemp(join(cacheRoot, '.build-envtest-helper-'));
  try {
    await runCommand('go', ['build', '-o', join(workDirectory, helperBinaryName), '.'], {
      cwd: helperSourceDirectory,
    });
    try {
      await rename(workDirectory, directory);
    } catch (error) {
      // Another process renamed its identical build into place first.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') {
        throw error;
      }
    }
  } finally {
    await rm(workDirectory, { recursive: true, force: true });
  }
  options.logger.info({ binary, elapsedMs: Date.now() - started }, 'built isc-envtest-helper');
  return binary;
}

async function hashHelperSource(): Promise<string> {
  const hash = createHash('sha256');
  const names = (await readdir(helperSourceDirectory))
    .filter((name) => name.endsWith('.go') || name === 'go.mod')
    .sort();
  for (const name of names) {
    hash.update(`${name}\0`);
    hash.update(await readFile(join(helperSourceDirectory, name)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
