import {
  access,
  constants,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheRoot } from './cache.ts';
import { readGoVersion } from './go-toolchain.ts';
import { acquireFileLock } from './lock.ts';
import { createDefaultLogger, type EnvtestLogger } from './logger.ts';
import { type CommandResult, runCommand } from './process.ts';

/** Helm release that tests and scripts/render-manifests.ts run. */
export const helmVersion = 'v4.3.2';

const helmModule = 'helm.sh/helm/v4';

/** Options for ensureHelm. */
export interface EnsureHelmOptions {
  logger?: EnvtestLogger;
  /** A helm binary to use instead of the cache. Defaults to the ISC_HELM_BINARY variable. */
  binaryPath?: string;
  /** Cache root. Defaults to `${XDG_CACHE_HOME:-$HOME/.cache}/isc-sa-operator`. */
  cacheRoot?: string;
  /** Time to wait while another process builds the same version, in milliseconds. */
  lockTimeoutMs?: number;
}

/** Contents of stamp.json, written next to the binary after a complete build. */
interface HelmBuildStamp {
  version: string;
  goVersion: string;
  builtAt: string;
  buildSeconds: number;
}

/**
 * Finds or builds helm at helmVersion and returns the binary's path. It uses ISC_HELM_BINARY
 * when set, then `helm-<version>/helm` in the cache, and otherwise builds the command from
 * Helm's Go module with `go install`, which needs only `go` and the Go module proxy.
 * Concurrent callers on one machine wait for a single build.
 */
export async function ensureHelm(options: EnsureHelmOptions = {}): Promise<string> {
  const logger = options.logger ?? createDefaultLogger();
  const prebuilt = options.binaryPath ?? process.env.ISC_HELM_BINARY;
  if (prebuilt !== undefined && prebuilt !== '') {
    return usePrebuiltHelm(prebuilt, logger);
  }

  const cacheRoot = options.cacheRoot ?? defaultCacheRoot();
  const directory = join(cacheRoot, `helm-${helmVersion}`);
  const binary = join(directory, 'helm');
  if (await isCompleteBuild(directory)) {
    return binary;
  }

  await mkdir(cacheRoot, { recursive: true });
  const releaseLock = await acquireFileLock(join(cacheRoot, `helm-${helmVersion}.lock`), {
    // The build took 2.5 minutes on a 2-core machine whose Go caches already held the
    // Kubernetes build. An empty cache adds module downloads and more packages to compile.
    timeoutMs: options.lockTimeoutMs ?? 30 * 60_000,
    logger,
  });
  try {
    // Another process may have finished the build while this one waited for the lock.
    if (!(await isCompleteBuild(directory))) {
      await buildHelm(cacheRoot, directory, logger);
    }
    return binary;
  } finally {
    await releaseLock();
  }
}

async function isCompleteBuild(directory: string): Promise<boolean> {
  try {
    const stamp = JSON.parse(await readFile(join(directory, 'stamp.json'), 'utf8'));
    if ((stamp as HelmBuildStamp).version !== helmVersion) {
      return false;
    }
    await access(join(directory, 'helm'), constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function usePrebuiltHelm(binary: string, logger: EnvtestLogger): Promise<string> {
  try {
    await access(binary, constants.X_OK);
  } catch {
    throw new Error(
      `ISC_HELM_BINARY ${binary} is not an executable file; unset it to build helm ` +
        `${helmVersion} into the cache instead`,
    );
  }
  const { stdout } = await runCommand(binary, ['version', '--template', '{{.Version}}']);
  const version = stdout.trim();
  if (version !== helmVersion) {
    logger.warn(
      { binary, version, expectedVersion: helmVersion },
      'helm is not the pinned version',
    );
  }
  return binary;
}

async function buildHelm(
  cacheRoot: string,
  directory: string,
  logger: EnvtestLogger,
): Promise<void> {
  const started = Date.now();
  const prefix = `.build-helm-${helmVersion}-`;
  // The caller holds the version's lock, so no running build owns a leftover work directory.
  for (const name of await readdir(cacheRoot)) {
    if (name.startsWith(prefix)) {
      await rm(join(cacheRoot, name), { recursive: true, force: true });
    }
  }
  const workDirectory = await mkdtemp(join(cacheRoot, prefix));
  const outputDirectory = join(workDirectory, 'bin');
  await mkdir(outputDirectory);
  logger.info({ version: helmVersion, workDirectory }, 'building helm from its Go module');

  try {
    await runCommand(
      'go',
      [
        'install',
        '-trimpath',
        // Helm's Makefile stamps the release this way; without it `helm version` prints v4.3.
        `-ldflags=-X ${helmModule}/internal/version.version=${helmVersion}`,
        `${helmModule}/cmd/helm@${helmVersion}`,
      ],
      {
        cwd: workDirectory,
        // go install writes into GOBIN; CGO_ENABLED=0 matches Helm's release builds.
        env: { ...process.env, GOBIN: outputDirectory, CGO_ENABLED: '0' },
      },
    );
    const stamp: HelmBuildStamp = {
      version: helmVersion,
      goVersion: await readGoVersion(workDirectory),
      builtAt: new Date().toISOString(),
      buildSeconds: Math.round((Date.now() - started) / 100) / 10,
    };
    await writeFile(join(outputDirectory, 'stamp.json'), `${JSON.stringify(stamp, null, 2)}\n`);

    // A directory without a valid stamp is a leftover of an interrupted copy.
    await rm(directory, { recursive: true, force: true });
    await rename(outputDirectory, directory);
    logger.info({ directory, ...stamp }, 'built helm');
  } finally {
    await rm(workDirectory, { recursive: true, force: true });
  }
}

/** Options for runHelm. */
export interface RunHelmOptions {
  /** Cluster for commands that talk to one; helm gets no kubeconfig otherwise. */
  kubeconfigPath?: string;
  cwd?: string;
}

/**
 * Runs helm with its configuration, cache and data directories in a new temporary directory,
 * so the user's repositories, plugins and registry logins never take part, and with no
 * kubeconfig unless one is given. Throws like runCommand when helm exits with an error.
 */
export async function runHelm(
  helm: string,
  args: readonly string[],
  options: RunHelmOptions = {},
): Promise<CommandResult> {
  const home = await mkdtemp(join(tmpdir(), 'isc-helm-home-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
    // Without this, client-go would fall back to $HOME/.kube/config, which does not exist here.
    KUBECONFIG: options.kubeconfigPath ?? join(home, 'no-kubeconfig'),
  };
  try {
    return await runCommand(helm, args, { env, ...(options.cwd ? { cwd: options.cwd } : {}) });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
