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
import { join } from 'node:path';
import { defaultCacheRoot } from './cache.ts';
import { downloadGoModule, readGoVersion } from './go-toolchain.ts';
import { acquireFileLock } from './lock.ts';
import { createDefaultLogger, type EnvtestLogger } from './logger.ts';
import { runCommand } from './process.ts';
import { kubernetesRelease, stagingModuleVersion } from './release.ts';

/** Paths of the control plane binaries, all from one Kubernetes release. */
export interface KubeBinaries {
  /** Kubernetes release, such as "v1.37.2". */
  release: string;
  /** Directory that contains the binaries. */
  directory: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  etcd: string;
  kubectl: string;
}

/** Options for ensureKubeBinaries. */
export interface EnsureKubeBinariesOptions {
  logger?: EnvtestLogger;
  /**
   * Directory with prebuilt kube-apiserver, kube-controller-manager, etcd and kubectl to use
   * instead of the cache. Defaults to the ISC_KUBE_BIN_DIR environment variable.
   */
  binaryDirectory?: string;
  /** Cache root. Defaults to `${XDG_CACHE_HOME:-$HOME/.cache}/isc-sa-operator`. */
  cacheRoot?: string;
  /** Time to wait while another process builds the same release, in milliseconds. */
  lockTimeoutMs?: number;
}

/** Contents of stamp.json, written into the cache directory after a complete build. */
interface BuildStamp {
  release: string;
  goVersion: string;
  etcdVersion: string;
  builtAt: string;
  buildSeconds: number;
}

const wrapperModulePath = 'isc-sa-operator/kube-binaries';
const etcdServerModule = 'go.etcd.io/etcd/server/v3';
const binaryNames = ['kube-apiserver', 'kube-controller-manager', 'etcd', 'kubectl'] as const;

/**
 * Finds or builds the control plane binaries of kubernetesRelease. It uses ISC_KUBE_BIN_DIR
 * when set, then the per-release cache directory, and otherwise builds them from Kubernetes' Go
 * modules, which needs only `go` and the Go module proxy. A first build takes many minutes.
 * Concurrent callers on one machine wait for a single build.
 */
export async function ensureKubeBinaries(
  options: EnsureKubeBinariesOptions = {},
): Promise<KubeBinaries> {
  const logger = options.logger ?? createDefaultLogger();
  const prebuiltDirectory = options.binaryDirectory ?? process.env.ISC_KUBE_BIN_DIR;
  if (prebuiltDirectory !== undefined && prebuiltDirectory !== '') {
    return usePrebuiltBinaries(prebuiltDirectory, logger);
  }

  const cacheRoot = options.cacheRoot ?? defaultCacheRoot();
  const directory = join(cacheRoot, `kubernetes-${kubernetesRelease}`);
  if (await isCompleteBuild(directory)) {
    return binariesIn(directory, kubernetesRelease);
  }

  await mkdir(cacheRoot, { recursive: true });
  const releaseLock = await acquireFileLock(
    join(cacheRoot, `kubernetes-${kubernetesRelease}.lock`),
    {
      // A build with an empty Go build cache took about 8 minutes on a 2-core machine, and
      // slower machines take longer, so waiters get a generous timeout.
      timeoutMs: options.lockTimeoutMs ?? 90 * 60_000,
      logger,
    },
  );
  try {
    // Another process may have finished the build while this one waited for the lock.
    if (await isCompleteBuild(directory)) {
      return binariesIn(directory, kubernetesRelease);
    }
    await buildKubeBinaries(cacheRoot, directory, logger);
    return binariesIn(directory, kubernetesRelease);
  } finally {
    await releaseLock();
  }
}

function binariesIn(directory: string, release: string): KubeBinaries {
  return {
    release,
    directory,
    kubeApiserver: join(directory, 'kube-apiserver'),
    kubeControllerManager: join(directory, 'kube-controller-manager'),
    etcd: join(directory, 'etcd'),
    kubectl: join(directory, 'kubectl'),
  };
}

async function isCompleteBuild(directory: string): Promise<boolean> {
  let stamp: BuildStamp;
  try {
    stamp = JSON.parse(await readFile(join(directory, 'stamp.json'), 'utf8')) as BuildStamp;
  } catch {
    return false;
  }
  if (stamp.release !== kubernetesRelease) {
    return false;
  }
  return allExecutable(directory);
}

async function allExecutable(directory: string): Promise<boolean> {
  for (const name of binaryNames) {
    try {
      await access(join(directory, name), constants.X_OK);
    } catch {
      return false;
    }
  }
  return true;
}

async function usePrebuiltBinaries(
  directory: string,
  logger: EnvtestLogger,
): Promise<KubeBinaries> {
  const missing: string[] = [];
  for (const name of binaryNames) {
    try {
      await access(join(directory, name), constants.X_OK);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `ISC_KUBE_BIN_DIR ${directory} is missing executable ${missing.join(', ')}; ` +
        'unset it to build the binaries into the cache instead',
    );
  }

  // kube-apiserver prints "Kubernetes v1.37.2".
  const binaries = binariesIn(directory, kubernetesRelease);
  const { stdout } = await runCommand(binaries.kubeApiserver, ['--version']);
  const release = stdout.trim().split(/\s+/).at(-1) ?? 'unknown';
  if (release !== kubernetesRelease) {
    logger.warn(
      { directory, release, expectedRelease: kubernetesRelease },
      'prebuilt kube-apiserver is not the pinned release',
    );
  }
  return { ...binaries, release };
}

async function buildKubeBinaries(
  cacheRoot: string,
  directory: string,
  logger: EnvtestLogger,
): Promise<void> {
  const started = Date.now();
  await removeAbandonedWorkDirectories(cacheRoot);
  const workDirectory = await mkdtemp(join(cacheRoot, `.build-kubernetes-${kubernetesRelease}-`));
  logger.info(
    { release: kubernetesRelease, workDirectory },
    'building Kubernetes control plane binaries from source; with an empty Go build cache ' +
      'this took about 8 minutes on a 2-core machine, and about 20 s once the cache is warm',
  );

  try {
    const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
      const stepStarted = Date.now();
      logger.info({ step: name }, 'build step started');
      const result = await run();
      logger.info({ step: name, elapsedSeconds: secondsSince(stepStarted) }, 'build step finished');
      return result;
    };

    const kubernetes = await step('download k8s.io/kubernetes', () =>
      downloadGoModule(workDirectory, 'k8s.io/kubernetes', kubernetesRelease),
    );
    const kubernetesGoMod = await readFile(kubernetes.GoMod, 'utf8');
    const wrapper = createWrapperGoMod(kubernetesGoMod);
    await writeFile(join(workDirectory, 'go.mod'), wrapper.goMod);
    const goVersion = await readGoVersion(workDirectory);

    const outputDirectory = join(workDirectory, 'bin');
    await mkdir(outputDirectory);
    await step('go build', () =>
      withHeartbeat(logger, started, () =>
        runCommand(
          'go',
          [
            'build',
            // Resolves go.sum entries and missing requirements from the module proxy.
            '-mod=mod',
            `-ldflags=${versionLinkerFlags()}`,
            '-o',
            `${outputDirectory}/`,
            'k8s.io/kubernetes/cmd/kube-apiserver',
            'k8s.io/kubernetes/cmd/kube-controller-manager',
            'k8s.io/kubernetes/cmd/kubectl',
            etcdServerModule,
          ],
          { cwd: workDirectory },
        ),
      ),
    );

    // go build names a main package after its last path element before a /vN suffix.
    await rename(join(outputDirectory, 'server'), join(outputDirectory, 'etcd'));
    const stamp: BuildStamp = {
      release: kubernetesRelease,
      goVersion,
      etcdVersion: wrapper.etcdVersion,
      builtAt: new Date().toISOString(),
      buildSeconds: secondsSince(started),
    };
    await writeFile(join(outputDirectory, 'stamp.json'), `${JSON.stringify(stamp, null, 2)}\n`);

    // A directory without a valid stamp is a leftover from an older layout or a manual copy.
    await rm(directory, { recursive: true, force: true });
    await rename(outputDirectory, directory);
    logger.info({ directory, ...stamp }, 'built Kubernetes control plane binaries');
  } finally {
    await rm(workDirectory, { recursive: true, force: true });
  }
}

/**
 * Removes work directories of builds that were killed. The caller holds the release lock, so no
 * running build of this release owns one.
 */
async function removeAbandonedWorkDirectories(cacheRoot: string): Promise<void> {
  const prefix = `.build-kubernetes-${kubernetesRelease}-`;
  for (const name of await readdir(cacheRoot)) {
    if (name.startsWith(prefix)) {
      await rm(join(cacheRoot, name), { recursive: true, force: true });
    }
  }
}

/**
 * Rewrites Kubernetes' go.mod into a module that depends on k8s.io/kubernetes. Kubernetes
 * replaces each staging module with a directory in its own repository, which a dependent module
 * cannot use, so those replaces point at the published staging module version instead.
 */
export function createWrapperGoMod(kubernetesGoMod: string): {
  goMod: string;
  etcdVersion: string;
} {
  let rewrites = 0;
  const goMod = kubernetesGoMod
    .replace(/^module k8s\.io\/kubernetes$/m, `module ${wrapperModulePath}`)
    .replace(/(k8s\.io\/[\w.-]+) => \.\/staging\/src\/k8s\.io\/[\w.-]+/g, (_match, module) => {
      rewrites += 1;
      return `${module} => ${module} ${stagingModuleVersion}`;
    });

  if (!goMod.includes(`module ${wrapperModulePath}\n`)) {
    throw new Error('k8s.io/kubernetes go.mod has no "module k8s.io/kubernetes" line');
  }
  if (rewrites === 0 || /=> \.\.?\//.test(goMod)) {
    throw new Error(
      `k8s.io/kubernetes ${kubernetesRelease} go.mod has an unexpected replace layout ` +
        `(${rewrites} staging replaces rewritten, local paths left)`,
    );
  }
  const etcdVersion = goMod.match(/go\.etcd\.io\/etcd\/server\/v3 (v\S+)/)?.[1];
  if (etcdVersion === undefined) {
    throw new Error(
      `k8s.io/kubernetes ${kubernetesRelease} go.mod does not require ${etcdServerModule}`,
    );
  }

  const header =
    `// Generated from the go.mod of k8s.io/kubernetes ${kubernetesRelease} ` +
    'to build its commands.\n';
  return {
    goMod: `${header}${goMod}\nrequire k8s.io/kubernetes ${kubernetesRelease}\n`,
    etcdVersion,
  };
}

/**
 * Linker flags that stamp the release into the binaries, as Kubernetes' hack/lib/version.sh
 * does. Without them the binaries report v0.0.0-master.
 */
function versionLinkerFlags(): string {
  const [major, minor] = kubernetesRelease.replace(/^v/, '').split('.');
  const values: Record<string, string> = {
    gitVersion: kubernetesRelease,
    gitMajor: major ?? '',
    gitMinor: minor ?? '',
    gitTreeState: 'clean',
  };
  const flags: string[] = [];
  for (const versionPackage of ['k8s.io/client-go/pkg/version', 'k8s.io/component-base/version']) {
    for (const [name, value] of Object.entries(values)) {
      flags.push(`-X ${versionPackage}.${name}=${value}`);
    }
  }
  return flags.join(' ');
}

async function withHeartbeat<T>(
  logger: EnvtestLogger,
  started: number,
  run: () => Promise<T>,
): Promise<T> {
  const timer = setInterval(() => {
    logger.info({ elapsedSeconds: secondsSince(started) }, 'still building Kubernetes binaries');
  }, 60_000);
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}

function secondsSince(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10;
}
