import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig } from './config.ts';
import { ServiceAccountController } from './controller/controller.ts';
import { TenantSetup } from './controller/tenant.ts';
import { IscApi } from './isc/api.ts';
import { IscClient } from './isc/client.ts';
import { ServiceAccountResources } from './kube/client.ts';
import { LeaderElector } from './kube/leader.ts';
import { OperatorMetrics, serveMetrics } from './metrics.ts';

export interface RunningOperator {
  controller: ServiceAccountController;
  iscClient: IscClient;
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

/** Connects to ISC with the configured credential and starts the ServiceAccount controller. */
export async function startOperator(
  config: OperatorConfig,
  kubeConfig: KubeConfig,
  logger: Logger,
  tuning: OperatorTuning = {},
): Promise<RunningOperator> {
  const credentials = await resolveCredentials(config, kubeConfig);
  const metrics = new OperatorMetrics();
  const iscClient = new IscClient({
    baseUrl: config.isc.baseUrl,
    apiVersion: config.isc.apiVersion,
    clientId: credentials.clientId,
    clientSecret: credentials.clientSecret,
    rateLimit: config.isc.rateLimitPer10s,
    rateLimitWindowMs: 10_000,
    logger: logger.child({ component: 'isc-client' }),
    observer: metrics,
  });
  const api = new IscApi(iscClient);
  const tenant = new TenantSetup(
    api,
    {
      sourceName: config.sourceName,
      identityProfileName: config.identityProfileName,
      ...(config.ownerIdentityId ? { ownerIdentityId: config.ownerIdentityId } : {}),
      cacheTtlMs: config.resyncSeconds * 1000,
      identityProcessingIntervalMs: config.identityProcessingIntervalSeconds * 1000,
    },
    logger.child({ component: 'tenant' }),
  );
  const controller = new ServiceAccountController({
    kubeConfig,
    api,
    tenant,
    logger,
    workers: config.workers,
    resyncMs: config.resyncSeconds * 1000,
    metrics,
    ...(tuning.waitInitialMs === undefined ? {} : { waitInitialMs: tuning.waitInitialMs }),
    ...(tuning.waitMaxMs === undefined ? {} : { waitMaxMs: tuning.waitMaxMs }),
  });
  metrics.gauge(
    'isc_client_queue_depth',
    'Requests waiting for the client-side ISC rate limiter.',
    () => iscClient.queueDepth,
  );
  const server = config.metricsAddress
    ? await serveMetrics(metrics, config.metricsAddress, () => controller.synced, logger)
    : undefined;

  let elector: LeaderElector | undefined;
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
      tuning.onLeadershipLost?.();
    });
  }
  await controller.start();
  logger.info(
    { baseUrl: config.isc.baseUrl, apiVersion: config.isc.apiVersion, source: config.sourceName },
    'operator started',
  );
  const address = server?.address();
  return {
    controller,
    iscClient,
    metrics,
    metricsPort: typeof address === 'object' && address !== null ? address.port : undefined,
    async stop() {
      await controller.stop();
      await elector?.release();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    },
  };
}

async function resolveCredentials(
  config: OperatorConfig,
  kubeConfig: KubeConfig,
): Promise<{ clientId: string; clientSecret: string }> {
  const ref = config.isc.credentialsSecret;
  if (!ref) return { clientId: config.isc.clientId!, clientSecret: config.isc.clientSecret! };
  const resources = new ServiceAccountResources(kubeConfig);
  return {
    clientId: await resources.readSecretValue(ref.namespace, ref.name, 'clientId'),
    clientSecret: await resources.readSecretValue(ref.namespace, ref.name, 'clientSecret'),
  };
}
