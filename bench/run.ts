// Benchmark harness: node bench/run.ts [--quick] [--n 10,100,1000] [--mode api,csv]
//   [--skip-baseline] [--skip-steady-state] [--check] [--results FILE.json]
//
// Starts a local kube-apiserver, then for each N an ISC emulator with per-response latency and
// ISC's gateway rate limit, and the operator as a child process. It creates N ServiceAccounts,
// waits until all are Ready and measures one steady-state resync; meanwhile the naive manual
// procedure runs against another emulator with the same options. All sizes run at once. Writes
// bench/results.json and bench/results.svg (or --results and the .svg beside it); --check exits 1
// when a call-count target is missed.
// Everything listens on and talks to 127.0.0.1 only.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { iscDefaultRateLimit } from '../src/emulator/rate-limit.ts';
import { type EmulatorOptions, startEmulator } from '../src/emulator/server.ts';
import {
  type BaselineResult,
  baselineClient,
  baselineSetupClient,
  runBaseline,
} from './baseline.ts';
import {
  countNotReady,
  createCsvTenant,
  createResources,
  csvTenantName,
  type Kube,
  startKube,
} from './kube.ts';
import {
  type CallCounts,
  countCalls,
  histogramQuantile,
  rateLimitFloorSeconds,
  sumOf,
} from './metrics.ts';
import { prepareImageRun, startOperatorProcess } from './operator-process.ts';
import { renderPlot } from './plot.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    n: { type: 'string' },
    mode: { type: 'string', default: 'api,csv' },
    'skip-baseline': { type: 'boolean', default: false },
    'skip-steady-state': { type: 'boolean', default: false },
    results: { type: 'string', default: new URL('./results.json', import.meta.url).pathname },
    check: { type: 'boolean', default: false },
  },
});
type SyncMode = 'api' | 'csv';
const modes = values.mode.split(',').map((text) => text.trim());
if (modes.length === 0 || modes.some((mode) => mode !== 'api' && mode !== 'csv')) {
  console.error(`--mode "${values.mode}" is invalid; give api, csv or api,csv`);
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
const logLine = (message: string) => console.log(`${new Date().toISOString()} ${message}`);

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
logLine(`sizes ${sizes.join(', ')}, modes ${modes.join(', ')}`);
// The api-mode operators take their tenant from ISC_* variables and share one API server. Each
// csv-mode run gets an API server of its own, because its tenant is a cluster-scoped Tenant
// resource that every operator process on the same server would also manage.
const apiKube = modes.includes('api') ? await startKube() : undefined;
// The operator runs as the image runs it: compiled, with the image's NODE_OPTIONS.
const image = prepareImageRun();

const results: Array<{
  n: number;
  operator: OperatorResult | undefined;
  csv: OperatorResult | undefined;
  baseline: BaselineResult | undefined;
}> = [];
try {
  // Sizes and modes run at once, each with its own emulators, operator process and namespace:
  // the tenant's rate limit, not the machine, bounds every run, so together they take about as
  // long as the largest.
  await Promise.all(
    sizes.map(async (n) => {
      const [operator, csv, baseline] = await Promise.all([
        apiKube ? measureOperator(n, 'api', apiKube) : undefined,
        modes.includes('csv') ? measureInOwnCluster(n, 'csv') : undefined,
        values['skip-baseline'] ? undefined : measureBaseline(n),
      ]);
      results.push({ n, operator, csv, baseline });
      results.sort((a, b) => a.n - b.n);
      writeResults();
    }),
  );
} finally {
  await apiKube?.cluster.stop();
}
logLine(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (values.check) process.exit(checkTargets() ? 0 : 1);

/**
 * Compares each run's call counts (not its times, which depend on the machine) with the targets
 * of BENCHMARKS.md, prints one line per check, and returns false when any is missed.
 */
function checkTargets(): boolean {
  // The targets are stated at N=1,000. Below it the one-time setup (source, schema, profile,
  // preflight: about 30 calls in csv mode) weighs more per account, so api mode is checked
  // from N=100 and csv mode from N=1,000.
  const callsPerAccountTarget: Record<SyncMode, { max: number; fromN: number }> = {
    api: { max: 6, fromN: 100 },
    csv: { max: 0.1, fromN: 1000 },
  };
  let passed = true;
  const runs = results.flatMap(({ n, operator, csv }) => [
    ...(operator ? [{ n, mode: 'api' as const, operator }] : []),
    ...(csv ? [{ n, mode: 'csv' as const, operator: csv }] : []),
  ]);
  for (const { n, mode, operator } of runs) {
    const checks: Array<[string, boolean]> = [
      [`all ${n} resources Ready`, Object.keys(operator.notReady).length === 0],
    ];
    const target = callsPerAccountTarget[mode];
    if (n >= target.fromN) {
      checks.push([
        `at most ${target.max} ISC calls per account (measured ${operator.callsPerAccount.toFixed(2)})`,
        operator.callsPerAccount <= target.max,
      ]);
    }
    const periodic = operator.steadyState?.periodicRound;
    if (periodic) {
      const readLimit = Math.ceil(n / 250) + 5;
      checks.push(
        [`no writes in a steady-state resync (measured ${periodic.writes})`, periodic.writes === 0],
        [
          `at most ${readLimit} reads in a steady-state resync (measured ${periodic.reads})`,
          periodic.reads <= readLimit,
        ],
      );
    }
    for (const [label, ok] of checks) {
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${mode} N=${n}: ${label}`);
      passed &&= ok;
    }
  }
  return passed;
}

/** Runs the naive procedure against its own emulator, alongside the operator's run. */
async function measureBaseline(n: number): Promise<BaselineResult> {
  const log = (message: string) => logLine(`baseline N=${n}: ${message}`);
  log('started');
  const emulator = await startEmulator({
    ...emulatorOptions,
    clients: [baselineClient, baselineSetupClient],
  });
  try {
    const baseline = await runBaseline(emulator, n, 120_000 + n * 2_000);
    log(
      `${baseline.callsPerAccount.toFixed(2)} calls per account, ${baseline.secondsToAllIdentities.toFixed(1)} s`,
    );
    return baseline;
  } finally {
    await emulator.close();
  }
}

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
    operator: `dist/src/cli/main.js run (compiled, as the image runs it) as a child process with NODE_OPTIONS="${image.nodeOptions}", production defaults (4 workers, 600 s resync, 30 s identity processing interval)`,
    results,
  };
  writeFileSync(values.results, `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(values.results.replace(/\.json$/, '.svg'), renderPlot(results));
}

async function measureInOwnCluster(n: number, mode: SyncMode): Promise<OperatorResult> {
  const kube = await startKube();
  try {
    return await measureOperator(n, mode, kube);
  } finally {
    await kube.cluster.stop();
  }
}

async function measureOperator(n: number, mode: SyncMode, kube: Kube): Promise<OperatorResult> {
  const label = `${mode} N=${n}`;
  const log = (message: string) => logLine(`${label}: ${message}`);
  const namespace = `bench-${mode}-${n}`;
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  const emulator = await startEmulator({ ...emulatorOptions, clients: [operatorClient] });
  const env: Record<string, string> = {
    KUBECONFIG: kube.cluster.kubeconfigPath,
    OPERATOR_WATCH_NAMESPACES: namespace,
  };
  if (mode === 'api') {
    env.ISC_BASE_URL = emulator.url;
    env.ISC_CLIENT_ID = operatorClient.clientId;
    env.ISC_CLIENT_SECRET = operatorClient.clientSecret;
  } else {
    await createCsvTenant(kube, namespace, emulator.url, operatorClient);
  }
  const logPath = `${outputDirectory}operator-${mode}-${n}.log`;
  writeFileSync(logPath, '');
  try {
    log('starting operator');
    const operator = await startOperatorProcess(
      { ...env, NODE_OPTIONS: image.nodeOptions },
      logPath,
      image.entry,
    );
    const createStarted = Date.now();
    await createResources(kube, namespace, n, mode === 'csv' ? csvTenantName : undefined);
    const secondsToCreateResources = (Date.now() - createStarted) / 1000;
    log(`created ${n} resources in ${secondsToCreateResources.toFixed(1)} s`);

    const timeoutMs = 120_000 + n * 1_000;
    let notReady: Record<string, number> = {};
    let readyAt: number | undefined;
    let lastReport = 0;
    while (Date.now() - createStarted < timeoutMs) {
      notReady = await countNotReady(kube, namespace);
      const waiting = Object.values(notReady).reduce((a, b) => a + b, 0);
      if (waiting === 0) {
        readyAt = Date.now();
        break;
      }
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        log(`${waiting} not Ready yet ${JSON.stringify(notReady)}`);
      }
      await sleep(n > 1000 ? 5_000 : 1_000);
    }
    const samples = await operator.scrape();
    await operator.stop();
    const calls = emulator.calls.filter((c) => c.clientId === operatorClient.clientId);
    writeFileSync(`${outputDirectory}calls-${mode}-${n}.json`, JSON.stringify(calls));
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
      `${readyAt ? 'all Ready' : 'TIMED OUT'} after ${secondsToAllReady.toFixed(1)} s, ` +
        `${(counts.total / n).toFixed(2)} calls per account, floor ${floor.toFixed(1)} s`,
    );
    const steadyState =
      readyAt && !values['skip-steady-state']
        ? await measureSteadyState(n, mode, env, emulator)
        : undefined;
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
  mode: SyncMode,
  env: Record<string, string>,
  emulator: Awaited<ReturnType<typeof startEmulator>>,
): Promise<SteadyStateResult> {
  const log = (message: string) => logLine(`${mode} N=${n}: ${message}`);
  const resyncSeconds = 30 + Math.ceil(n * 0.02);
  log(`steady state, restarting the operator with a ${resyncSeconds} s resync`);
  emulator.clearCalls();
  const operator = await startOperatorProcess(
    { ...env, OPERATOR_RESYNC_SECONDS: String(resyncSeconds), NODE_OPTIONS: image.nodeOptions },
    `${outputDirectory}operator-${mode}-${n}-steady.log`,
    image.entry,
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
    `periodic resync ${periodicRound.reads} reads, ${periodicRound.writes} writes; ` +
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
