import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig } from './config.ts';
import { sourceScope } from './controller/claim-index.ts';
import { ServiceAccountController } from './controller/controller.ts';
import { TenantController } from './controller/tenant-controller.ts';
import {
  type ConnectionOptions,
  connectTenant,
  TenantRegistry,
} from './controller/tenant-registry.ts';
import { describeError } from './errors.ts';
import { ServiceAccountResources } from './kube/client.ts';
import { LeaderElector } from './kube/leader.ts';
import { OperatorMetrics, serveMetrics } from './metrics.ts';

export interface RunningOperator {
  controller: ServiceAccountController;
  registry: TenantRegistry;
  metrics: OperatorMetrics;
  /** Port of the metrics and health listener, when it runs. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

/** Tuning that tests and the demo shorten; production uses the defaults. */
export interface OperatorTuning {
  waitInitialMs?: number;
  waitMaxMs?: number;
  /** Called when leader election loses the lease; the process should exit. */
  onLeadershipLost?: () => void;
}

/**
 * Starts the operator: the tenant configured by environment (if any), the Tenant controller,
 * and the ServiceAccount controller, behind leader election when it is configured.
 */
export async function startOperator(
  config: OperatorConfig,
  kubeConfig: KubeConfig,
  logger: Logger,
  tuning: OperatorTuning = {},
): Promise<RunningOperator> {
  const metrics = new OperatorMetrics();
  const registry = new TenantRegistry();
  const connectionOptions: ConnectionOptions = {
    logger,
    observer: metrics,
    cacheTtlMs: config.resyncSeconds * 1000,
    identityProcessingIntervalMs: config.identityProcessingIntervalSeconds * 1000,
  };
  if (config.isc) await registerEnvironmentTenant(config, kubeConfig, registry, connectionOptions);

  const tenantController = new TenantController({
    kubeConfig,
    registry,
    connection: connectionOptions,
    resyncMs: config.resyncSeconds * 1000,
    logger,
  });
  const controller = new ServiceAccountController({
    kubeConfig,
    registry,
    logger,
    workers: config.workers,
    resyncMs: config.resyncSeconds * 1000,
    accountCreateTimeoutMs: config.accountCreateTimeoutSeconds * 1000,
    ...(config.watchNamespaces ? { namespaces: config.watchNamespaces } : {}),
    metrics,
    ...(tuning.waitInitialMs === undefined ? {} : { waitInitialMs: tuning.waitInitialMs }),
    ...(tuning.waitMaxMs === undefined ? {} : { waitMaxMs: tuning.waitMaxMs }),
  });
  metrics.gauge(
    'isc_client_queue_depth',
    'Requests waiting for the client-side ISC rate limiters of all tenants.',
    () => registry.queueDepth,
  );
  let elector: LeaderElector | undefined;
  // A standby replica waiting for the Lease is ready to take over, so it reports ready; the
  // leader is ready once its informer has listed every resource.
  const ready = () => (elector !== undefined && !elector.isLeader) || controller.synced;
  const server = config.metricsAddress
    ? await serveMetrics(metrics, config.metricsAddress, ready, logger).catch((error: unknown) => {
        throw metricsListenError(error, config.metricsAddress!);
      })
    : undefined;

  if (config.leaderElection) {
    elector = new LeaderElector({
      kubeConfig,
      ...config.leaderElection,
      identity: `${hostname()}-${randomBytes(4).toString('hex')}`,
      logger,
    });
    logger.info(config.leaderElection, 'waiting for leadership');
    await elector.acquire(() => {
      void controller.stop();
      void tenantController.stop();
      tuning.onLeadershipLost?.();
    });
  }
  await tenantController.start();
  await controller.start();
  logger.info(
    {
      environmentTenant: config.isc ? { name: config.isc.name, baseUrl: config.isc.baseUrl } : null,
    },
    'operator started',
  );

  const address = server?.address();
  return {
    controller,
    registry,
    metrics,
    metricsPort: typeof address === 'object' && address !== null ? address.port : undefined,
    async stop() {
      await controller.stop();
      await tenantController.stop();
      await elector?.release();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    },
  };
}

/**
 * Explains a failed listen of the metrics server: a bare "listen EADDRINUSE 127.0.0.1:8080"
 * names neither the endpoint nor the setting that moves it.
 */
function metricsListenError(error: unknown, address: { host: string; port: number }): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'EADDRINUSE'
      ? 'the address is already in use'
      : code === 'EACCES'
        ? 'permission denied'
        : describeError(error);
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return new Error(
    `the metrics and health endpoint (/metrics, /healthz, /readyz) cannot listen on ` +
      `${host}:${address.port}: ${reason}. Set OPERATOR_METRICS_ADDRESS to a free ` +
      'host:port (e.g. 127.0.0.1:9090), or to off to run without it',
    { cause: error },
  );
}

/**
 * Serves the tenant set by ISC_* variables under its name (default "default"). A Tenant
 * resource of the same name replaces it once the Tenant controller has checked that resource.
 */
async function registerEnvironmentTenant(
  config: OperatorConfig,
  kubeConfig: KubeConfig,
  registry: TenantRegistry,
  options: ConnectionOptions,
): Promise<void> {
  const isc = config.isc!;
  let credentials = { clientId: isc.clientId ?? '', clientSecret: isc.clientSecret ?? '' };
  if (isc.credentialsSecret) {
    const { namespace, name } = isc.credentialsSecret;
    const secrets = new ServiceAccountResources(kubeConfig);
    credentials = {
      clientId: await secrets.readSecretValue(namespace, name, 'clientId'),
      clientSecret: await secrets.readSecretValue(namespace, name, 'clientSecret'),
    };
  }
  const connection = connectTenant(
    isc.name,
    {
      baseUrl: isc.baseUrl,
      apiVersion: isc.apiVersion,
      ...credentials,
      ...(isc.credentialsSecret
        ? {
            credential:
              `Secret ${isc.credentialsSecret.namespace}/${isc.credentialsSecret.name} ` +
              '(ISC_CREDENTIALS_SECRET)',
          }
        : {}),
      sourceName: config.sourceName,
      identityProfileName: config.identityProfileName,
      ownerIdentityId: config.ownerIdentityId,
      rateLimitPer10s: isc.rateLimitPer10s,
    },
    options,
  );
  registry.set(isc.name, {
    connection,
    ready: true,
    reason: 'Configured',
    message: 'configured by ISC_* environment variables',
    markedDefault: false,
    sourceScope: sourceScope(isc.baseUrl, config.sourceName),
  });
}
