import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureKubeBinaries, type KubeBinaries } from './binaries.ts';
import { type ClusterCertificates, createClusterCertificates } from './certificates.ts';
import { ensureEnvtestHelper } from './helper-binary.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { createDefaultLogger, type EnvtestLogger } from './logger.ts';
import { findFreePort } from './ports.ts';
import { StartupError, waitUntilReady } from './probes.ts';
import { type ManagedProcess, registerExitCleanup, startManagedProcess } from './process.ts';

/** Options for startLocalCluster. */
export interface LocalClusterOptions {
  /**
   * Directory for certificates, kubeconfigs, etcd data and process logs. It must be empty or
   * missing, because stop() deletes it. Defaults to a new directory under the OS temp dir.
   */
  directory?: string;
  /**
   * Keep the directory (logs, etcd data, kubeconfig) after stop() or a failed start.
   * Defaults to false.
   */
  keepDirectory?: boolean;
  /** Start kube-controller-manager. Defaults to true. */
  controllerManager?: boolean;
  /** Controllers that kube-controller-manager runs. Defaults to defaultControllers. */
  controllers?: readonly string[];
  /** Binaries to run. Defaults to the result of ensureKubeBinaries(). */
  binaries?: KubeBinaries;
  logger?: EnvtestLogger;
  /** Time each component may take to become ready, in milliseconds. Defaults to 120 s. */
  startTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL in stop(), in milliseconds. Defaults to 10 s. */
  stopGracePeriodMs?: number;
  /** Extra kube-apiserver flags, appended after the defaults so they override them. */
  apiServerFlags?: readonly string[];
}

/** A running etcd, kube-apiserver and (optionally) kube-controller-manager on loopback. */
export interface LocalCluster {
  /** URL of kube-apiserver, such as https://127.0.0.1:41234. */
  server: string;
  /** Kubeconfig of a user in the system:masters group, with embedded certificates. */
  kubeconfigPath: string;
  directory: string;
  binaries: KubeBinaries;
  /**
   * Stops kube-apiserver (SIGTERM, then SIGKILL after the grace period) and starts it again on
   * the same port, with the same flags, certificates and etcd, so stored objects and the
   * kubeconfig stay valid. Resolves once /readyz answers 200. etcd and kube-controller-manager
   * keep running. Clients see the outage as failed requests and closed watches.
   */
  restartApiServer(): Promise<void>;
  /**
   * Stops all processes (SIGTERM, then SIGKILL after the grace period) and deletes the directory
   * unless keepDirectory was set. Calling it again returns the same promise.
   */
  stop(): Promise<void>;
}

/**
 * Controllers that make API semantics work without nodes or pods: namespace deletion, garbage
 * collection, default service accounts, legacy token secrets, the kube-root-ca.crt ConfigMap,
 * and the aggregated admin/edit/view ClusterRoles.
 */
export const defaultControllers: readonly string[] = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller',
  'clusterrole-aggregation-controller',
];

/** Service CIDR of the cluster. Nothing routes it, but kube-apiserver requires one. */
const serviceClusterIpRange = '10.0.0.0/24';
const kubernetesServiceIp = '10.0.0.1';
const serviceAccountIssuer = 'https://kubernetes.default.svc.cluster.local';
const maxStartAttempts = 3;

/** Everything one start attempt needs besides ports. */
interface ClusterLayout {
  directory: string;
  binaries: KubeBinaries;
  helperPath: string;
  certificates: ClusterCertificates;
  kubeconfigPath: string;
  controllerManagerKubeconfigPath: string;
  controllers: readonly string[] | undefined;
  apiServerFlags: readonly string[];
  startTimeoutMs: number;
  logger: EnvtestLogger;
}

/** How kube-apiserver was started, so that it can be started again the same way. */
interface ApiServerLaunch {
  /** URL of the apiserver, such as https://127.0.0.1:41234. */
  server: string;
  args: readonly string[];
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free ports on 127.0.0.1 and waits
 * until they are ready. On failure it stops what it started and throws an error that contains
 * the end of the failing process's log.
 */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const logger = options.logger ?? createDefaultLogger();
  const binaries = options.binaries ?? (await ensureKubeBinaries({ logger }));
  const helperPath = await ensureEnvtestHelper({ logger });
  const directory = await prepareDirectory(options.directory);
  const keepDirectory = options.keepDirectory ?? false;
  const stopGracePeriodMs = options.stopGracePeriodMs ?? 10_000;

  const removeDirectorySync = (): void => {
    if (!keepDirectory) {
      rmSync(directory, { recursive: true, force: true });
    }
  };
  const unregisterExitCleanup = registerExitCleanup(removeDirectorySync);

  const started = Date.now();
  let processes: ManagedProcess[] = [];
  let layout: ClusterLayout | undefined;
  let apiServerLaunch: ApiServerLaunch | undefined;
  try {
    const pkiDirectory = join(directory, 'pki');
    await mkdir(pkiDirectory);
    layout = {
      directory,
      binaries,
      helperPath,
      certificates: await createClusterCertificates(helperPath, pkiDirectory, kubernetesServiceIp),
      kubeconfigPath: join(directory, 'kubeconfig'),
      controllerManagerKubeconfigPath: join(directory, 'kube-controller-manager.kubeconfig'),
      controllers:
        options.controllerManager === false
          ? undefined
          : (options.controllers ?? defaultControllers),
      apiServerFlags: options.apiServerFlags ?? [],
      startTimeoutMs: options.startTimeoutMs ?? 120_000,
      logger,
    };

    for (let attempt = 1; ; attempt += 1) {
      try {
        apiServerLaunch = await startProcesses(layout, processes);
        break;
      } catch (error) {
        await stopAll(processes, stopGracePeriodMs);
        processes = [];
        const retryable = error instanceof StartupError && error.addressInUse;
        if (!retryable || attempt >= maxStartAttempts) {
          throw error;
        }
        // NOTE: no test provokes a port conflict, so this retry has only been read, not run.
        logger.warn({ attempt, error: error.message }, 'port taken during startup, retrying');
        await rm(join(directory, 'etcd-data'), { recursive: true, force: true });
      }
    }
  } catch (error) {
    await stopAll(processes, stopGracePeriodMs);
    unregisterExitCleanup();
    removeDirectorySync();
    throw error;
  }

  const { server } = apiServerLaunch;
  const startedLayout = layout;
  const launch = apiServerLaunch;
  logger.info({ server, directory, elapsedMs: Date.now() - started }, 'local cluster ready');

  let stopping: Promise<void> | undefined;
  // A restart in progress; stop() waits for it, so it never races a process being started.
  let restarting: Promise<void> | undefined;
  const restartApiServer = (): Promise<void> => {
    if (stopping !== undefined) {
      return Promise.reject(new Error('cannot restart kube-apiserver: the cluster is stopping'));
    }
    if (restarting !== undefined) {
      return Promise.reject(new Error('cannot restart kube-apiserver: a restart is running'));
    }
    restarting = (async () => {
      const restartStarted = Date.now();
      const index = processes.findIndex((child) => child.name === 'kube-apiserver');
      const running = processes[index];
      if (running === undefined) throw new Error('kube-apiserver is not among the processes');
      await running.stop(stopGracePeriodMs);
      // Go listeners set SO_REUSEADDR, so the port is free again at once. Another program could
      // take it in this gap; the start then fails with the apiserver's log in the error.
      await startApiServer(startedLayout, launch, (started) => {
        processes[index] = started;
      });
      logger.info({ server, elapsedMs: Date.now() - restartStarted }, 'kube-apiserver restarted');
    })().finally(() => {
      restarting = undefined;
    });
    return restarting;
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await restarting?.catch(() => undefined);
      const stopStarted = Date.now();
      await stopAll(processes, stopGracePeriodMs);
      unregisterExitCleanup();
      removeDirectorySync();
      logger.info({ directory, elapsedMs: Date.now() - stopStarted }, 'local cluster stopped');
    })();
    return stopping;
  };

  return {
    server,
    kubeconfigPath: join(directory, 'kubeconfig'),
    directory,
    binaries,
    restartApiServer,
    stop,
  };
}

async function prepareDirectory(requested: string | undefined): Promise<string> {
  if (requested === undefined) {
    return mkdtemp(join(tmpdir(), 'isc-envtest-'));
  }
  await mkdir(requested, { recursive: true });
  const entries = await readdir(requested);
  if (entries.length > 0) {
    throw new Error(
      `cluster directory ${requested} is not empty; pass an empty or missing directory, ` +
        'because stop() deletes it',
    );
  }
  return requested;
}

/**
 * Starts the processes of one attempt, appending each to processes as soon as it runs so the
 * caller can stop them on failure. Returns how kube-apiserver was started.
 */
async function startProcesses(
  layout: ClusterLayout,
  processes: ManagedProcess[],
): Promise<ApiServerLaunch> {
  const { binaries, certificates, directory, logger, startTimeoutMs } = layout;
  const etcdClientPort = await findFreePort();
  const etcdPeerPort = await findFreePort();
  const apiServerPort = await findFreePort();
  const controllerManagerPort = await findFreePort();
  const server = `https://127.0.0.1:${apiServerPort}`;
  const adminTls = { caCertificatePath: certificates.ca.certificate, client: certificates.admin };

  let phaseStarted = Date.now();
  const etcdClientUrl = `http://127.0.0.1:${etcdClientPort}`;
  const etcd = await startManagedProcess({
    name: 'etcd',
    program: binaries.etcd,
    args: etcdFlags(directory, etcdClientUrl, `http://127.0.0.1:${etcdPeerPort}`),
    logPath: join(directory, 'etcd.log'),
    helperPath: layout.helperPath,
  });
  processes.push(etcd);
  await waitUntilReady({
    process: etcd,
    url: `${etcdClientUrl}/health`,
    isReady: (response) => response.status === 200 && /"health":\s*"true"/.test(response.body),
    timeoutMs: startTimeoutMs,
  });
  logger.info({ url: etcdClientUrl, elapsedMs: Date.now() - phaseStarted }, 'etcd ready');

  phaseStarted = Date.now();
  const launch: ApiServerLaunch = {
    server,
    args: [
      ...apiServerFlags(directory, certificates, etcdClientUrl, apiServerPort),
      ...layout.apiServerFlags,
    ],
  };
  await startApiServer(layout, launch, (started) => processes.push(started));
  logger.info({ server, elapsedMs: Date.now() - phaseStarted }, 'kube-apiserver ready');

  await writeKubeconfig({
    path: layout.kubeconfigPath,
    server,
    caCertificatePath: certificates.ca.certificate,
    client: certificates.admin,
    name: 'envtest',
  });
  if (layout.controllers === undefined) {
    return launch;
  }

  phaseStarted = Date.now();
  await writeKubeconfig({
    path: layout.controllerManagerKubeconfigPath,
    server,
    caCertificatePath: certificates.ca.certificate,
    client: certificates.controllerManager,
    name: 'kube-controller-manager',
  });
  const controllerManager = await startManagedProcess({
    name: 'kube-controller-manager',
    program: binaries.kubeControllerManager,
    args: controllerManagerFlags(layout, controllerManagerPort),
    logPath: join(directory, 'kube-controller-manager.log'),
    helperPath: layout.helperPath,
  });
  processes.push(controllerManager);
  await waitUntilReady({
    process: controllerManager,
    url: `https://127.0.0.1:${controllerManagerPort}/healthz`,
    tls: { caCertificatePath: certificates.ca.certificate },
    timeoutMs: startTimeoutMs,
  });
  // A healthy controller manager may not have synced its informers yet. The default service
  // account appearing shows that controllers act on the API, which tests rely on.
  if (layout.controllers.includes('serviceaccount-controller')) {
    await waitUntilReady({
      process: controllerManager,
      url: `${server}/api/v1/namespaces/default/serviceaccounts/default`,
      tls: adminTls,
      timeoutMs: startTimeoutMs,
    });
  }
  logger.info({ elapsedMs: Date.now() - phaseStarted }, 'kube-controller-manager ready');
  return launch;
}

/**
 * Starts kube-apiserver as launch describes and waits until /readyz answers 200. onStarted gets
 * the process before the wait, so a caller can stop it when the wait fails.
 */
async function startApiServer(
  layout: ClusterLayout,
  launch: ApiServerLaunch,
  onStarted?: (apiServer: ManagedProcess) => void,
): Promise<ManagedProcess> {
  const { certificates } = layout;
  const apiServer = await startManagedProcess({
    name: 'kube-apiserver',
    program: layout.binaries.kubeApiserver,
    args: launch.args,
    logPath: join(layout.directory, 'kube-apiserver.log'),
    helperPath: layout.helperPath,
  });
  onStarted?.(apiServer);
  await waitUntilReady({
    process: apiServer,
    url: `${launch.server}/readyz`,
    tls: { caCertificatePath: certificates.ca.certificate, client: certificates.admin },
    timeoutMs: layout.startTimeoutMs,
  });
  return apiServer;
}

function etcdFlags(directory: string, clientUrl: string, peerUrl: string): string[] {
  return [
    '--name=envtest',
    `--data-dir=${join(directory, 'etcd-data')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=envtest=${peerUrl}`,
    '--initial-cluster-state=new',
    // Test data is thrown away, so durability is not worth the fsync latency.
    '--unsafe-no-fsync',
  ];
}

function apiServerFlags(
  directory: string,
  certificates: ClusterCertificates,
  etcdClientUrl: string,
  port: number,
): string[] {
  return [
    `--etcd-servers=${etcdClientUrl}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--advertise-address=127.0.0.1',
    // Endpoints may not contain loopback addresses, so reconciling the kubernetes Service's
    // endpoints to 127.0.0.1 would fail on every attempt.
    '--endpoint-reconciler-type=none',
    `--cert-dir=${join(directory, 'kube-apiserver-certs')}`,
    `--tls-cert-file=${certificates.apiServer.certificate}`,
    `--tls-private-key-file=${certificates.apiServer.key}`,
    `--client-ca-file=${certificates.ca.certificate}`,
    // Components with delegated authentication, such as kube-controller-manager, log an error
    // every few seconds while the request-header CA is missing. The allowed name matches no
    // certificate issued here, so no client can use request headers to authenticate.
    `--requestheader-client-ca-file=${certificates.ca.certificate}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--authorization-mode=RBAC',
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    `--service-account-issuer=${serviceAccountIssuer}`,
    `--service-account-key-file=${certificates.serviceAccount.publicKey}`,
    `--service-account-signing-key-file=${certificates.serviceAccount.privateKey}`,
  ];
}

function controllerManagerFlags(layout: ClusterLayout, port: number): string[] {
  const { certificates } = layout;
  const kubeconfig = layout.controllerManagerKubeconfigPath;
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(layout.directory, 'kube-controller-manager-certs')}`,
    `--tls-cert-file=${certificates.controllerManagerServing.certificate}`,
    `--tls-private-key-file=${certificates.controllerManagerServing.key}`,
    '--leader-elect=false',
    // Each controller then acts as its own service account, bound by the bootstrap RBAC policy
    // to a system:controller:* ClusterRole. The system:kube-controller-manager user alone may
    // not, for example, patch ClusterRoles or create the kube-root-ca.crt ConfigMaps.
    '--use-service-account-credentials=true',
    `--controllers=${(layout.controllers ?? defaultControllers).join(',')}`,
    // Needed by serviceaccount-token-controller and root-ca-certificate-publisher-controller.
    `--service-account-private-key-file=${certificates.serviceAccount.privateKey}`,
    `--root-ca-file=${certificates.ca.certificate}`,
  ];
}

async function stopAll(processes: readonly ManagedProcess[], gracePeriodMs: number): Promise<void> {
  // Reverse start order: clients first, so etcd outlives the apiserver's final writes.
  for (const child of [...processes].reverse()) {
    await child.stop(gracePeriodMs);
  }
}
