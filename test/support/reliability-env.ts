/**
 * Shared setup of the reliability and hostile-input tests: a local kube-apiserver with the
 * chart's RBAC installed, and the ISC emulator in this process. Helpers run the operator as a
 * child process under the chart's ServiceAccount, read and change ServiceAccount resources,
 * and read what the emulator stored. Everything listens on 127.0.0.1.
 */
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import {
  type EmulatorOptions,
  type RunningEmulator,
  startEmulator,
} from '../../src/emulator/server.ts';
import {
  ensureHelm,
  type LocalCluster,
  type LocalClusterOptions,
  runHelm,
  startLocalCluster,
} from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { installCrds } from '../../src/kube/crds.ts';
import { writeServiceAccountKubeconfig } from './chart-env.ts';
import { type OperatorProcess, startOperatorProcess } from './operator-process.ts';

export * from './resources.ts';

export const credentialsNamespace = 'isc-system';
/** ServiceAccount the chart creates for the operator, as release "isc" names it. */
export const chartServiceAccount = 'isc-isc-sa-operator';
const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
/** Wait before an account create without a clear response is sent again, in these tests. */
export const accountCreateTimeoutSeconds = 20;

export interface ReliabilityEnv {
  cluster: LocalCluster;
  emulator: RunningEmulator;
  kubeConfig: KubeConfig;
  customObjects: CustomObjectsApi;
  core: CoreV1Api;
  operatorClient: { clientId: string; clientSecret: string };
  /**
   * Kubeconfig with a token of the chart's ServiceAccount: the operator started here can do
   * what the chart's RBAC grants and nothing else.
   */
  operatorKubeconfigPath: string;
  /** Every operator process started so far, including killed ones. */
  operators: OperatorProcess[];
  /** Starts one more operator process with the test's settings, `extraEnv` winning. */
  startOperator(extraEnv?: Record<string, string>): OperatorProcess;
  stop(): Promise<void>;
}

/**
 * Starts cluster and emulator, installs the chart (its Deployment never runs a pod here, but
 * its ServiceAccount and RBAC apply), and stores the operator's ISC credential as a Secret.
 */
export async function startReliabilityEnv(
  prefix: string,
  emulatorOptions: Omit<EmulatorOptions, 'clients'> = {},
  clusterOptions: LocalClusterOptions = {},
): Promise<ReliabilityEnv> {
  const operatorClient = {
    clientId: `${prefix}-operator`,
    clientSecret: `op-secret-${crypto.randomUUID()}`,
  };
  const helm = await ensureHelm();
  const cluster = await startLocalCluster(clusterOptions);
  const emulator = await startEmulator({
    asyncDelayMs: 200,
    ...emulatorOptions,
    clients: [operatorClient],
  });
  const kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
  await installCrds(kubeConfig);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: credentialsNamespace } } });
  await core.createNamespacedSecret({
    namespace: credentialsNamespace,
    body: { metadata: { name: 'isc-credentials' }, stringData: operatorClient },
  });
  await runHelm(helm, ['install', 'isc', chart, '--namespace', credentialsNamespace], {
    kubeconfigPath: cluster.kubeconfigPath,
  });
  const operatorKubeconfigPath = await writeServiceAccountKubeconfig(
    kubeConfig,
    cluster.directory,
    credentialsNamespace,
    chartServiceAccount,
    // Long enough for `npm run load`, which may run for more than an hour.
    6 * 3600,
  );

  const operators: OperatorProcess[] = [];
  return {
    cluster,
    emulator,
    kubeConfig,
    customObjects: kubeConfig.makeApiClient(CustomObjectsApi),
    core,
    operatorClient,
    operatorKubeconfigPath,
    operators,
    startOperator(extraEnv = {}) {
      const operator = startOperatorProcess({
        KUBECONFIG: operatorKubeconfigPath,
        ISC_BASE_URL: emulator.url,
        ISC_CREDENTIALS_SECRET: `${credentialsNamespace}/isc-credentials`,
        ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
        OPERATOR_RESYNC_SECONDS: '3',
        OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
        // The emulator shows an accepted create within its task delay and latency, at most a
        // few seconds here and without list lag. So 20 s is a safe bound for resending an
        // uncertain create (docs/decisions/account-create-verification.md explains why).
        OPERATOR_ACCOUNT_CREATE_TIMEOUT_SECONDS: String(accountCreateTimeoutSeconds),
        LOG_LEVEL: 'info',
        ...extraEnv,
      });
      operators.push(operator);
      return operator;
    },
    async stop() {
      for (const operator of operators) await operator.stop(2_000);
      await emulator.close();
      await cluster.stop();
    },
  };
}

/**
 * Returns the nativeIdentity of each account-create task the emulator started, once per task,
 * so an id that appears twice was sent twice. The task description is "Create account <id>".
 */
export function createTaskIds(emulator: RunningEmulator): string[] {
  const ids: string[] = [];
  for (const task of emulator.state.tasks.values()) {
    const description = String((task as { description?: unknown }).description ?? '');
    const match = /^Create account (.+)$/.exec(description);
    if (match) ids.push(match[1]!);
  }
  return ids;
}

/** Returns each value that occurs more than once in `values`, with its count. */
export function duplicates(values: readonly string[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return Object.fromEntries([...counts].filter(([, count]) => count > 1));
}

/** Accounts on the source named `sourceName`, read from the emulator's state. */
export function accountsOnSource(emulator: RunningEmulator, sourceName = 'Service Accounts') {
  const sourceIds = [...emulator.state.sources.values()]
    .filter((source) => source.name === sourceName)
    .map((source) => source.id);
  return [...emulator.state.accounts.values()].filter((account) =>
    sourceIds.includes(account.sourceId),
  );
}

/** Port of the operator's metrics listener, from its start log line. */
export function metricsPort(operator: OperatorProcess): number | undefined {
  const line = operator
    .output()
    .split('\n')
    .find((entry) => entry.includes('metrics and health endpoints listening'));
  return line ? (JSON.parse(line) as { port: number }).port : undefined;
}
