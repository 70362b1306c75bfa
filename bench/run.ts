// Benchmark harness: node bench/run.ts [--quick] [--n 10,100,1000] [--mode api]
//
// Starts a local kube-apiserver, then for each N an ISC emulator with per-response latency and
// ISC's gateway rate limit, and the operator as a child process. It creates N ServiceAccounts,
// waits until all are Ready, measures one steady-state resync, then runs the naive manual
// procedure against a fresh emulator with the same options. Writes bench/results.json and
// bench/results.svg. Everything listens on and talks to 127.0.0.1 only.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { pino } from 'pino';
import { iscDefaultRateLimit } from '../src/emulator/rate-limit.ts';
import { type EmulatorOptions, startEmulator } from '../src/emulator/server.ts';
import { startLocalCluster } from '../src/envtest/index.ts';
import { loadKubeConfig } from '../src/kube/client.ts';
import { installCrds } from '../src/kube/crds.ts';
import { group, serviceAccountPlural, version } from '../src/kube/types.ts';
import {
  type BaselineResult,
  baselineClient,
  baselineSetupClient,
  runBaseline,
} from './baseline.ts';
import {
  type CallCounts,
  countCalls,
  histogramQuantile,
  rateLimitFloorSeconds,
  sumOf,
} from './metrics.ts';
import { startOperatorProcess } from './operator-process.ts';
import { renderPlot } from './plot.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    n: { type: 'string' },
    mode: { type: 'string', default: 'api' },
    'skip-baseline': { type: 'boolean', default: false },
  },
});
if (values.mode !== 'api') {
  console.error(
    `--mode ${values.mode} is not supported: the operator has no CSV batch mode yet, so only ` +
      '--mode api can be measured',
  );
  process.exit(2);
}
const sizes = (values.n ?? (values.quick ? '10,100,1000' : '10,100,1000,10000'))
  .split(',')
  .map((text) => Number(text.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 10_000)) {
  console.error(
    `--n "${values.n}" is invalid; give whole numbers from 1 to 10000, e.g. 10,100,1000`,
  );
  process.exit(2);
}
if (values.quick && sizes.some((n) => n > 1000)) {
  console.error('--quick runs N up to 1000 only');
  process.exit(2);
}

/** Emulator options shared by the operator run and the baseline of every N. */
const emulatorOptions: EmulatorOptions = {
  latencyMs: 20,
  asyncDelayMs: 1_000,
  rateLimit: iscDefaultRateLimit,
  logger: pino({ level: 'error' }),
};
const operatorClient = { clientId: 'bench-operator', clientSecret: `op-${crypto.randomUUID()}` };
const outputDirectory = new URL('./out/', import.meta.url).pathname;
mkdirSync(outputDirectory, { recursive: true });
const log = (message: string) => console.log(`${new Date().toISOString()} ${message}`);

interface OperatorResult {
  n: number;
  calls: CallCounts;
  callsPerAccount: number;
  readsPerAccount: number;
  writesPerAccount: number;
  /** Creation of the first resource to the poll that saw all Ready, in seconds. */
  secondsToAllReady: number;
  secondsToCreateResources: number;
  /** Calls made until all were Ready, divided by 100 calls per 10 s. */
  rateLimitFloorSeconds: number;
  ratioToFloor: number;
  notReady: Record<string, number>;
  reconciles: number;
  reconcileSecondsP50: number | undefined;
  reconcileSecondsP99: number | undefined;
  /** Sum of reconcile durations minus the sum of ISC request durations, per reconcile. */
  meanReconcileSecondsOutsideIscRequests: number | undefined;
  peakRssMiB: number;
  peakHeapUsedMiB: number;
  contractViolations: number;
  steadyState: SteadyStateResult | undefined;
}

interface SteadyStateResult {
  resyncSeconds: number;
  /** Calls of the round every start runs, which also re-verifies each identity once. */
  startupRound: CallCounts;
  /** Calls of the first periodic resync, the steady-state case the target is about. */
  periodicRound: CallCounts;
  /** True when the startup round was still running when the periodic one began. */
  overlapped: boolean;
  peakRssMiB: number;
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const started = Date.now();
// Other work may change src/ while the benchmark runs; the revision records what was measured.
const revision = {
  commit: git('rev-parse', 'HEAD'),
  changedFiles: git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean),
};
log(`starting local cluster (sizes ${sizes.join(', ')})`);
const cluster = await startLocalCluster();
const kubeConfig = loadKubeConfig(cluster.kubeconfigPath);
const customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
const core = kubeConfig.makeApiClient(CoreV1Api);
await installCrds(kubeConfig);

const results: Array<{
  n: number;
  operator: OperatorResult;
  baseline: BaselineResult | undefined;
}> = [];
try {
  for (const n of sizes) {
    const operator = await measureOperator(n);
    let baseline: BaselineResult | undefined;
    if (!values['skip-baseline']) {
      log(`N=${n}: baseline`);
      const emulator = await startEmulator({
        ...emulatorOptions,
        clients: [baselineClient, baselineSetupClient],
      });
      try {
        baseline = await runBaseline(emulator, n, 120_000 + n * 2_000);
      } finally {
        await emulator.close();
      }
      log(
        `N=${n}: baseline ${baseline.callsPerAccount.toFixed(2)} calls per account, ${baseline.secondsToAllIdentities.toFixed(1)} s`,
      );
    }
    results.push({ n, operator, baseline });
    writeResults();
  }
} finally {
  await cluster.stop();
}
log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);

function writeResults() {
  const document = {
    generatedAt: new Date().toISOString(),
    revision,
    command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      note: 'shared with other test runs while measured, so times are noisy',
    },
    emulator: {
      latencyMs: emulatorOptions.latencyMs,
      asyncDelayMs: emulatorOptions.asyncDelayMs,
      rateLimit: '100 requests per 10 s per client id and API family',
    },
    operator:
      'src/cli/main.ts run as a child process, production defaults (4 workers, 600 s resync, 30 s identity processing interval)',
    results,
  };
  writeFileSync(
    new URL('./results.json', import.meta.url),
    `${JSON.stringify(document, null, 2)}\n`,
  );
  writeFileSync(new URL('./results.svg', import.meta.url), renderPlot(results));
}

async function measureOperator(n: number): Promise<OperatorResult> {
  const namespace = `bench-${n}-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const emulator = await startEmulator({ ...emulatorOptions, clients: [operatorClient] });
  const env = {
    KUBECONFIG: cluster.kubeconfigPath,
    ISC_BASE_URL: emulator.url,
    ISC_CLIENT_ID: operatorClient.clientId,
    ISC_CLIENT_SECRET: operatorClient.clientSecret,
    OPERATOR_WATCH_NAMESPACES: namespace,
  };
  const logPath = `${outputDirectory}operator-${n}.log`;
  writeFileSync(logPath, '');
  try {
    log(`N=${n}: starting operator`);
    const operator = await startOperatorProcess(env, logPath);
    const createStarted = Date.now();
    await createResources(namespace, n);
    const secondsToCreateResources = (Date.now() - createStarted) / 1000;
    log(`N=${n}: created ${n} resources in ${secondsToCreateResources.toFixed(1)} s`);

    const timeoutMs = 120_000 + n * 1_000;
    let notReady: Record<string, number> = {};
    let readyAt: number | undefined;
    let lastReport = 0;
    while (Date.now() - createStarted < timeoutMs) {
      notReady = await countNotReady(namespace);
      const waiting = Object.values(notReady).reduce((a, b) => a + b, 0);
      if (waiting === 0) {
        readyAt = Date.now();
        break;
      }
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        log(`N=${n}: ${waiting} not Ready yet ${JSON.stringify(notReady)}`);
      }
      await sleep(n > 1000 ? 5_000 : 1_000);
    }
    const samples = await operator.scrape();
    await operator.stop();
    const calls = emulator.calls.filter((c) => c.clientId === operatorClient.clientId);
    writeFileSync(`${outputDirectory}calls-${n}.json`, JSON.stringify(calls));
    const counts = countCalls(calls);
    // The floor covers the calls made until all were Ready; later ones did not delay them.
    const floor = rateLimitFloorSeconds(
      calls.filter((c) => c.startedAt <= (readyAt ?? Number.POSITIVE_INFINITY)),
    );
    const secondsToAllReady = ((readyAt ?? Date.now()) - createStarted) / 1000;
    const reconcileSum = sumOf(samples, 'isc_sa_reconcile_duration_seconds_sum');
    const reconcileCount = sumOf(samples, 'isc_sa_reconcile_duration_seconds_count');
    const iscSum = sumOf(samples, 'isc_request_duration_seconds_sum');
    const peaks = operator.peaks();
    log(
      `N=${n}: ${readyAt ? 'all Ready' : 'TIMED OUT'} after ${secondsToAllReady.toFixed(1)} s, ` +
        `${(counts.total / n).toFixed(2)} calls per account, floor ${floor.toFixed(1)} s`,
    );
    const steadyState = readyAt ? await measureSteadyState(n, env, emulator) : undefined;
    return {
      n,
      calls: counts,
      callsPerAccount: counts.total / n,
      readsPerAccount: counts.reads / n,
      writesPerAccount: counts.writes / n,
      secondsToAllReady,
      secondsToCreateResources,
      rateLimitFloorSeconds: floor,
      ratioToFloor: secondsToAllReady / floor,
      notReady,
      reconciles: reconcileCount,
      reconcileSecondsP50: histogramQuantile(samples, 'isc_sa_reconcile_duration_seconds', 0.5),
      reconcileSecondsP99: histogramQuantile(samples, 'isc_sa_reconcile_duration_seconds', 0.99),
      meanReconcileSecondsOutsideIscRequests:
        reconcileCount > 0 ? Math.max(0, reconcileSum - iscSum) / reconcileCount : undefined,
      peakRssMiB: mib(peaks.peakRssBytes),
      peakHeapUsedMiB: mib(peaks.peakHeapUsedBytes),
      contractViolations: emulator.contractViolations.length,
      steadyState,
    };
  } finally {
    await emulator.close();
  }
}

/**
 * Restarts the operator with a short resync period and measures two rounds: the round every
 * start runs, and the first periodic resync after it. The period is long enough for the startup
 * round to finish first (it re-reads every identity once, about N/10 s under the rate limit).
 */
async function measureSteadyState(
  n: number,
  env: Record<string, string>,
  emulator: Awaited<ReturnType<typeof startEmulator>>,
): Promise<SteadyStateResult> {
  const resyncSeconds = 20 + Math.ceil(n * 0.15);
  log(`N=${n}: steady state, restarting the operator with a ${resyncSeconds} s resync`);
  emulator.clearCalls();
  const operator = await startOperatorProcess(
    { ...env, OPERATOR_RESYNC_SECONDS: String(resyncSeconds) },
    `${outputDirectory}operator-${n}-steady.log`,
  );
  const readyAt = Date.now();
  const splitAt = readyAt + resyncSeconds * 1000 - 1_000;
  await sleep(splitAt - Date.now());
  const reconcilesAtSplit = sumOf(await operator.scrape(), 'isc_sa_reconciles_total');
  const overlapped = reconcilesAtSplit < n;

  const deadline = Date.now() + resyncSeconds * 1000;
  let lastCallCount = -1;
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    const samples = await operator.scrape();
    const done =
      sumOf(samples, 'isc_sa_reconciles_total') >= reconcilesAtSplit + n &&
      sumOf(samples, 'isc_sa_workqueue_depth') === 0;
    if (emulator.calls.length !== lastCallCount) {
      lastCallCount = emulator.calls.length;
      quietSince = Date.now();
    }
    if (done && Date.now() - quietSince > 3_000) break;
    await sleep(500);
  }
  await operator.stop();
  const calls = emulator.calls.filter((c) => c.clientId === operatorClient.clientId);
  const startupRound = countCalls(calls.filter((c) => c.startedAt < splitAt));
  const periodicRound = countCalls(calls.filter((c) => c.startedAt >= splitAt));
  log(
    `N=${n}: periodic resync ${periodicRound.reads} reads, ${periodicRound.writes} writes; ` +
      `startup round ${startupRound.reads} reads, ${startupRound.writes} writes`,
  );
  return {
    resyncSeconds,
    startupRound,
    periodicRound,
    overlapped,
    peakRssMiB: mib(operator.peaks().peakRssBytes),
  };
}

async function createResources(namespace: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const suffix = String(i).padStart(5, '0');
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
            accountId: `BENCH-${suffix}`,
            email: `svc-${suffix}@example.com`,
            purpose: 'benchmark',
          },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Counts the resources that are not Ready, by Ready reason (`None` before the first status). */
async function countNotReady(namespace: string): Promise<Record<string, number>> {
  const byReason: Record<string, number> = {};
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
      items: Array<{
        status?: { conditions?: Array<{ type: string; status: string; reason?: string }> };
      }>;
      metadata?: { continue?: string };
    };
    for (const item of page.items) {
      const ready = item.status?.conditions?.find((condition) => condition.type === 'Ready');
      if (ready?.status === 'True') continue;
      const reason = ready?.reason ?? 'None';
      byReason[reason] = (byReason[reason] ?? 0) + 1;
    }
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return byReason;
}

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd: new URL('..', import.meta.url).pathname,
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}
