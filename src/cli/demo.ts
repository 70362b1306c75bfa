import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { readConfig } from '../config.ts';
import { startEmulator } from '../emulator/server.ts';
import { ensureKubeBinaries, startLocalCluster } from '../envtest/index.ts';
import { createTenant, loadKubeConfig } from '../kube/client.ts';
import { installCrds } from '../kube/crds.ts';
import { group, type ServiceAccount, serviceAccountPlural, version } from '../kube/types.ts';
import { createLogger } from '../log.ts';
import { startOperator } from '../operator.ts';
import { projectPath } from '../paths.ts';
import { parseCommandArgs, UsageError } from './command-io.ts';
import { acquireDemoLock, demoLockFile } from './demo-lock.ts';

const demoClientId = 'demo-operator';
const demoCredentialsSecret = { namespace: 'isc-system', name: 'isc-credentials' };

const demoUsage = `Usage: isc-sa-operator demo [--exit-when-ready] [--no-operator]

Starts kube-apiserver, etcd and kube-controller-manager on loopback, the ISC emulator, a Tenant
pointing at it and the operator, applies examples/*.yaml and prints their state. State and logs
go to .demo/ in the project folder; one demo at a time can use it.

Options:
  --exit-when-ready  stop everything once all resources are Ready (exit 0) or after 5 minutes
                     (exit 1)
  --no-operator      start everything but the operator, and print how to run your own with
                     npm start against the demo's cluster
  -h, --help         show this help`;

/** Settings tests change; `npm run demo` uses the defaults. */
export interface DemoOptions {
  /** Folder for the cluster's data, the kubeconfig, the logs and the lock (default .demo/). */
  directory?: string;
}

/**
 * Runs the whole product on this machine: a local API server, the ISC emulator and the
 * operator, with the resources in examples/ applied, and prints their state until Ctrl-C.
 * Throws UsageError for unknown options and DemoLockedError while another demo uses the folder.
 */
export async function runDemo(argv: string[], options: DemoOptions = {}): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'exit-when-ready': { type: 'boolean', default: false },
    'no-operator': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(demoUsage);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);

  const demoDirectory = options.directory ?? projectPath('.demo');
  await mkdir(demoDirectory, { recursive: true });
  // The lock comes first: before it, the folder may belong to a running demo.
  const lock = await acquireDemoLock(demoDirectory);
  try {
    await emptyFolder(demoDirectory, demoLockFile);
    return await runLockedDemo(demoDirectory, values['exit-when-ready'], !values['no-operator']);
  } finally {
    await lock.release();
  }
}

/** Deletes everything in `folder` except the file `keep`. */
async function emptyFolder(folder: string, keep: string): Promise<void> {
  for (const entry of await readdir(folder)) {
    if (entry !== keep) await rm(join(folder, entry), { recursive: true, force: true });
  }
}

async function runLockedDemo(
  demoDirectory: string,
  exitWhenReady: boolean,
  withOperator: boolean,
): Promise<number> {
  const progress = (message: string) => console.log(`• ${message}`);
  const quiet = pino(
    { level: 'warn' },
    pino.destination({ dest: join(demoDirectory, 'setup.log') }),
  );

  progress('preparing Kubernetes binaries (the first run builds them from source: ~8 minutes)');
  const binaries = await ensureKubeBinaries({ logger: quiet });
  progress('starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1');
  const cluster = await startLocalCluster({
    directory: join(demoDirectory, 'cluster'),
    keepDirectory: true,
    binaries,
    logger: quiet,
  });
  const stops: Array<() => Promise<unknown>> = [() => cluster.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };

  try {
    const clientSecret = `demo-${crypto.randomUUID()}`;
    const emulator = await startEmulator({
      host: '127.0.0.1',
      port: 0,
      clients: [{ clientId: demoClientId, clientSecret }],
      asyncDelayMs: 500,
    });
    stops.push(() => emulator.close());
    progress(`ISC emulator listening on ${emulator.url}`);

    const kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
    await installCrds(kubeConfig);
    await createCredentialsSecret(kubeConfig, clientSecret);
    await createDemoTenant(kubeConfig, emulator.url);
    progress(
      `installed the CRDs, the Secret ${demoCredentialsSecret.namespace}/` +
        `${demoCredentialsSecret.name} and the Tenant "default" pointing at the emulator`,
    );

    const operatorLog = join(demoDirectory, 'operator.log');
    if (withOperator) {
      const operator = await startDemoOperator(kubeConfig, operatorLog);
      stops.push(() => operator.stop());
      progress(`operator started; its log is ${operatorLog}`);
    }

    const applied = await applyExamples(kubeConfig);
    progress(`applied ${applied.join(', ')} from examples/`);
    if (!withOperator) {
      console.log(`
No operator runs (--no-operator). Start your own against the demo's cluster in another
terminal, in this folder; the table below follows what it does:
  KUBECONFIG=${cluster.kubeconfigPath} ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS=2 npm start`);
    }

    const ready = await showUntilReady(kubeConfig, exitWhenReady ? 300_000 : undefined);
    if (exitWhenReady) {
      await stopAll();
      return ready ? 0 : 1;
    }

    console.log(`
The demo keeps running. In another terminal:
  export KUBECONFIG=${cluster.kubeconfigPath}
  ${binaries.kubectl} get isc -A          # Tenants and ServiceAccounts
  ${binaries.kubectl} describe iscsa audit01
  ${binaries.kubectl} edit iscsa audit01
  curl -s ${emulator.url}/__admin/state
Press Ctrl-C to stop everything.`);
    await watchUntilInterrupted(kubeConfig);
    await stopAll();
    return 0;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * Starts the operator in this process with short polls, without leader election and on a free
 * metrics port; its log goes to `logPath`.
 */
async function startDemoOperator(kubeConfig: KubeConfig, logPath: string) {
  const config = readConfig({
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '2',
    OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
    OPERATOR_LEADER_ELECTION: 'false',
    LOG_LEVEL: 'info',
  });
  const logger = createLogger({ level: 'info' }, pino.destination({ dest: logPath, sync: false }));
  return startOperator(config, kubeConfig, logger, { waitInitialMs: 500, waitMaxMs: 5_000 });
}

async function createCredentialsSecret(
  kubeConfig: KubeConfig,
  clientSecret: string,
): Promise<void> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: demoCredentialsSecret.namespace } } });
  await core.createNamespacedSecret({
    namespace: demoCredentialsSecret.namespace,
    body: {
      metadata: { name: demoCredentialsSecret.name },
      stringData: { clientId: demoClientId, clientSecret },
    },
  });
}

async function createDemoTenant(kubeConfig: KubeConfig, baseUrl: string): Promise<void> {
  await createTenant(kubeConfig.makeApiClient(CustomObjectsApi), 'default', {
    baseUrl,
    credentialsSecretRef: demoCredentialsSecret,
  });
}

/** Creates every ServiceAccount in examples/*.yaml; returns their namespace/name keys. */
export async function applyExamples(kubeConfig: KubeConfig): Promise<string[]> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const folder = projectPath('examples');
  const keys: string[] = [];
  for (const file of (await readdir(folder)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const document of parseAllDocuments(await readFile(join(folder, file), 'utf8'))) {
      const resource = document.toJS() as ServiceAccount | null;
      if (resource?.kind !== 'ServiceAccount') continue;
      const namespace = resource.metadata.namespace ?? 'default';
      try {
        await api.createNamespacedCustomObject({
          group,
          version,
          namespace,
          plural: serviceAccountPlural,
          body: resource,
        });
      } catch (error) {
        if (!(error instanceof ApiException && error.code === 409)) throw error;
      }
      keys.push(`${namespace}/${resource.metadata.name}`);
    }
  }
  return keys;
}

async function listServiceAccounts(kubeConfig: KubeConfig): Promise<ServiceAccount[]> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const list = await api.listClusterCustomObject({ group, version, plural: serviceAccountPlural });
  return (list as { items: ServiceAccount[] }).items;
}

function renderTable(resources: readonly ServiceAccount[]): string {
  const rows = resources.map((resource) => {
    const ready = resource.status?.conditions?.find((condition) => condition.type === 'Ready');
    return [
      `${resource.metadata.namespace}/${resource.metadata.name}`,
      resource.spec.accountId ?? '',
      resource.status?.identityId ?? '',
      ready?.status ?? 'Unknown',
      ready?.reason ?? '',
    ];
  });
  const header = ['NAME', 'ACCOUNT ID', 'IDENTITY ID', 'READY', 'REASON'];
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i]!.length)),
  );
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

function allReady(resources: readonly ServiceAccount[]): boolean {
  return (
    resources.length > 0 &&
    resources.every((resource) =>
      resource.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    )
  );
}

/** Prints the table whenever it changes; resolves true once every resource is Ready. */
async function showUntilReady(kubeConfig: KubeConfig, timeoutMs?: number): Promise<boolean> {
  const started = Date.now();
  let previous = '';
  for (;;) {
    const resources = await listServiceAccounts(kubeConfig);
    const table = renderTable(resources);
    if (table !== previous) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`\n[${seconds}s]\n${table}`);
      previous = table;
    }
    if (allReady(resources)) {
      console.log(`\nAll ${resources.length} ServiceAccounts are Ready.`);
      return true;
    }
    if (timeoutMs !== undefined && Date.now() - started > timeoutMs) {
      console.log('\nNot all ServiceAccounts became Ready in time; see .demo/operator.log.');
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Keeps printing the table on changes until SIGINT or SIGTERM. */
async function watchUntilInterrupted(kubeConfig: KubeConfig): Promise<void> {
  let interrupted = false;
  const stop = () => {
    interrupted = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let previous = '';
  while (!interrupted) {
    const table = renderTable(await listServiceAccounts(kubeConfig).catch(() => []));
    if (table !== previous) {
      console.log(`\n${new Date().toISOString()}\n${table}`);
      previous = table;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  console.log('\nstopping the operator, the emulator and the local cluster');
}
