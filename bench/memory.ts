// Memory benchmark: node bench/memory.ts [--n 10000] [--node-options="..."] [--source]
//
// Measures the operator's peak RSS and V8 heap while N ServiceAccounts converge and through one
// full resync after that. It runs the compiled build (dist/), as the container image does, with
// the image's NODE_OPTIONS unless --node-options replaces them; --source runs the TypeScript
// source through Node's type stripping instead, which holds about 25 MiB more. The emulator runs without latency and without ISC's rate limit, so that
// N=10,000 converges in minutes rather than the hours the tenant's limit would take; memory depends
// on how many resources and accounts the operator holds, not on how fast ISC answers. Writes
// bench/memory.json. Everything listens on and talks to 127.0.0.1 only.

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startEmulator } from '../src/emulator/server.ts';
import { startLocalCluster } from '../src/envtest/index.ts';
import { loadKubeConfig } from '../src/kube/client.ts';
import { installCrds } from '../src/kube/crds.ts';
import { group, serviceAccountPlural, version } from '../src/kube/types.ts';
import { sumOf } from './metrics.ts';
import { prepareImageRun, startOperatorProcess } from './operator-process.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    'node-options': { type: 'string' },
    source: { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
if (!Number.isInteger(n) || n < 1 || n > 20_000) {
  console.error(`--n "${values.n}" is invalid; give a whole number from 1 to 20000`);
  process.exit(2);
}

const log = (message: string) => console.log(`${new Date().toISOString()} ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const outputDirectory = new URL('./out/', import.meta.url).pathname;
mkdirSync(outputDirectory, { recursive: true });

const image = values.source ? undefined : prepareImageRun();
const nodeOptions = values['node-options'] ?? image?.nodeOptions ?? '';

const cluster = await startLocalCluster();
const kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
const customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
const core = kubeConfig.makeApiClient(CoreV1Api);
await installCrds(kubeConfig);
const client = { clientId: 'memory-operator', clientSecret: `op-${crypto.randomUUID()}` };
const emulator = await startEmulator({
  asyncDelayMs: 200,
  clients: [client],
  logger: pino({ level: 'error' }),
});
const namespace = `memory-${n}`;
await core.createNamespace({ body: { metadata: { name: namespace } } });

const started = Date.now();
try {
  const operator = await startOperatorProcess(
    {
      KUBECONFIG: cluster.kubeconfigPath,
      ISC_BASE_URL: emulator.url,
      ISC_CLIENT_ID: client.clientId,
      ISC_CLIENT_SECRET: client.clientSecret,
      OPERATOR_WATCH_NAMESPACES: namespace,
      // Without the tenant's limit the client-side limiter would be the bottleneck.
      ISC_RATE_LIMIT_PER_10S: '100000',
      // One periodic resync after convergence, measured like the rest.
      OPERATOR_RESYNC_SECONDS: String(Math.max(120, Math.ceil(n / 20))),
      NODE_OPTIONS: nodeOptions,
      LOG_LEVEL: 'warn',
    },
    `${outputDirectory}memory-${n}.log`,
    image?.entry,
  );
  const idle = operator.peaks();
  log(`operator started, peak RSS ${mib(idle.peakRssBytes)} MiB before any resource`);
  await createResources(n);
  log(`created ${n} resources in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  let readyAt: number | undefined;
  for (;;) {
    const waiting = await countNotReady();
    if (waiting === 0) {
      readyAt = Date.now();
      break;
    }
    if (Date.now() - started > 3_600_000) break;
    log(`${waiting} not Ready, peak RSS ${mib(operator.peaks().peakRssBytes)} MiB`);
    await sleep(10_000);
  }
  const converged = operator.peaks();
  log(`all Ready: ${readyAt !== undefined}, peak RSS ${mib(converged.peakRssBytes)} MiB`);
  // Let one resync over every resource pass, then read the peaks again.
  const resyncs = sumOf(await operator.scrape(), 'isc_sa_reconciles_total');
  while (sumOf(await operator.scrape(), 'isc_sa_reconciles_total') < resyncs + n) {
    await sleep(5_000);
  }
  await operator.stop();
  const final = operator.peaks();
  const result = {
    generatedAt: new Date().toISOString(),
    n,
    nodeOptions,
    build: values.source ? 'TypeScript source (type stripping)' : 'compiled (dist/)',
    allReady: readyAt !== undefined,
    secondsToAllReady: readyAt ? (readyAt - started) / 1000 : undefined,
    peakRssMiBBeforeResources: mib(idle.peakRssBytes),
    peakRssMiBConverged: mib(converged.peakRssBytes),
    peakRssMiB: mib(final.peakRssBytes),
    peakHeapUsedMiB: mib(final.peakHeapUsedBytes),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(new URL('./memory.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await emulator.close();
  await cluster.stop();
}

async function createResources(count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const suffix = String(next++).padStart(5, '0');
      await customObjects.createNamespacedCustomObject({
        group,
        version,
        namespace,
        plural: serviceAccountPlural,
        body: {
          apiVersion: `${group}/${version}`,
          kind: 'ServiceAccount',
          metadata: { name: `svc-${suffix}` },
          spec: {
            accountId: `MEM-${suffix}`,
            email: `svc-${suffix}@example.com`,
            purpose: 'memory benchmark',
          },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function countNotReady(): Promise<number> {
  let waiting = 0;
  let continueToken: string | undefined;
  do {
    const page = (await customObjects.listNamespacedCustomObject({
      group,
      version,
      namespace,
      plural: serviceAccountPlural,
      limit: 500,
      ...(continueToken ? { _continue: continueToken } : {}),
    })) as {
      items: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
      metadata?: { continue?: string };
    };
    for (const item of page.items) {
      const ready = item.status?.conditions?.find((condition) => condition.type === 'Ready');
      if (ready?.status !== 'True') waiting++;
    }
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return waiting;
}
