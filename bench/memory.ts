// Memory benchmark: node bench/memory.ts [--n 10000] [--mode api|csv] [--node-options="..."]
//   [--source] [--heap-snapshot]
//
// Measures the operator's peak RSS and V8 heap while N ServiceAccounts converge and through one
// full resync after that. It runs the compiled build (dist/), as the container image does, with
// the image's NODE_OPTIONS unless --node-options replaces them; --source runs the TypeScript
// source through Node's type stripping instead, which uses about 25 MiB more. --heap-snapshot
// has the operator write a V8 heap snapshot into bench/out/ once every resource is Ready, and
// prints its summary by constructor (bench/heap-summary.ts). The emulator runs
// without latency and without ISC's rate limit, so that N=10,000 converges in minutes rather than
// the hours the tenant's limit would take: memory depends on how many resources and accounts the
// operator holds, not on how fast ISC responds. Adds the run to bench/memory.json. Everything
// listens on and talks to 127.0.0.1 only.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startEmulator } from '../src/emulator/server.ts';
import { summarizeHeap } from './heap-summary.ts';
import {
  countNotReady,
  createCsvTenant,
  createResources,
  csvTenantName,
  startKube,
} from './kube.ts';
import { sumOf } from './metrics.ts';
import { prepareImageRun, startOperatorProcess } from './operator-process.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    mode: { type: 'string', default: 'api' },
    'node-options': { type: 'string' },
    source: { type: 'boolean', default: false },
    'heap-snapshot': { type: 'boolean', default: false },
  },
});
const n = Number(values.n);
if (!Number.isInteger(n) || n < 1 || n > 20_000) {
  console.error(`--n "${values.n}" is invalid; give a whole number from 1 to 20000`);
  process.exit(2);
}
const mode = values.mode;
if (mode !== 'api' && mode !== 'csv') {
  console.error(`--mode "${values.mode}" is invalid; give api or csv`);
  process.exit(2);
}

const log = (message: string) => console.log(`${new Date().toISOString()} ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const outputDirectory = new URL('./out/', import.meta.url).pathname;
mkdirSync(outputDirectory, { recursive: true });

const image = values.source ? undefined : prepareImageRun();
const heapSnapshotDirectory = `${outputDirectory}heap-${mode}-${n}/`;
const nodeOptions = values['node-options'] ?? image?.nodeOptions ?? '';
// The snapshot flags stay out of the recorded options, which key the runs in memory.json.
// Node ends the process when the snapshot cannot be written, so the directory comes first.
if (values['heap-snapshot']) mkdirSync(heapSnapshotDirectory, { recursive: true });
const snapshotOptions = values['heap-snapshot']
  ? ` --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${heapSnapshotDirectory}`
  : '';

const kube = await startKube();
const client = { clientId: 'memory-operator', clientSecret: `op-${crypto.randomUUID()}` };
const emulator = await startEmulator({
  asyncDelayMs: 200,
  clients: [client],
  logger: pino({ level: 'error' }),
});
const namespace = `memory-${mode}-${n}`;
await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
const env: Record<string, string> = {
  KUBECONFIG: kube.cluster.kubeconfigPath,
  OPERATOR_WATCH_NAMESPACES: namespace,
  // One periodic resync after convergence, measured like the rest.
  OPERATOR_RESYNC_SECONDS: String(Math.max(120, Math.ceil(n / 20))),
  NODE_OPTIONS: `${nodeOptions}${snapshotOptions}`,
  LOG_LEVEL: 'warn',
};
if (mode === 'api') {
  env.ISC_BASE_URL = emulator.url;
  env.ISC_CLIENT_ID = client.clientId;
  env.ISC_CLIENT_SECRET = client.clientSecret;
  // Without the tenant's limit the client-side limiter would be the bottleneck.
  env.ISC_RATE_LIMIT_PER_10S = '100000';
} else {
  await createCsvTenant(kube, namespace, emulator.url, client);
}

const started = Date.now();
try {
  const operator = await startOperatorProcess(
    env,
    `${outputDirectory}memory-${mode}-${n}.log`,
    image?.entry,
  );
  const idle = operator.peaks();
  log(`operator started, peak RSS ${mib(idle.peakRssBytes)} MiB before any resource`);
  await createResources(kube, namespace, n, mode === 'csv' ? csvTenantName : undefined);
  log(`created ${n} resources in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  let readyAt: number | undefined;
  for (;;) {
    const notReady = await countNotReady(kube, namespace);
    const waiting = Object.values(notReady).reduce((a, b) => a + b, 0);
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
  const heap = values['heap-snapshot'] ? await takeHeapSnapshot(operator.pid) : undefined;
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
    mode,
    nodeOptions,
    build: values.source ? 'TypeScript source (type stripping)' : 'compiled (dist/)',
    allReady: readyAt !== undefined,
    secondsToAllReady: readyAt ? (readyAt - started) / 1000 : undefined,
    peakRssMiBBeforeResources: mib(idle.peakRssBytes),
    peakRssMiBConverged: mib(converged.peakRssBytes),
    peakRssMiB: mib(final.peakRssBytes),
    peakHeapUsedMiB: mib(final.peakHeapUsedBytes),
    ...(heap ? { heapSnapshot: heap } : {}),
  };
  console.log(JSON.stringify(result, null, 2));
  saveRun(result);
} finally {
  await emulator.close();
  await kube.cluster.stop();
}

/**
 * Signals the operator to write a heap snapshot (V8 collects garbage first, so it contains live
 * objects only), waits until the file is complete, and returns its largest groups.
 */
async function takeHeapSnapshot(pid: number) {
  const before = new Set(readdirSync(heapSnapshotDirectory));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 600_000;
  let file: string | undefined;
  let size = -1;
  while (Date.now() < deadline) {
    await sleep(2_000);
    file ??= readdirSync(heapSnapshotDirectory).find(
      (name) => name.endsWith('.heapsnapshot') && !before.has(name),
    );
    if (!file) continue;
    // The snapshot is complete when its size stops changing and it parses.
    const current = statSync(`${heapSnapshotDirectory}${file}`).size;
    if (current !== size) {
      size = current;
      continue;
    }
    try {
      const path = `${heapSnapshotDirectory}${file}`;
      const { totalBytes, groups } = summarizeHeap(JSON.parse(readFileSync(path, 'utf8')));
      log(`heap snapshot ${path}: ${mib(totalBytes)} MiB live`);
      for (const group of groups.slice(0, 15)) {
        log(`  ${mib(group.bytes)} MiB in ${group.count} × ${group.group}`);
      }
      return {
        file: path,
        liveMiB: mib(totalBytes),
        largestGroups: groups
          .slice(0, 15)
          .map((group) => ({ ...group, bytes: undefined, MiB: mib(group.bytes) })),
      };
    } catch {
      // Still being written.
    }
  }
  log('no heap snapshot appeared within 10 minutes');
  return undefined;
}

/** Adds the run to bench/memory.json, replacing an earlier one of the same N, mode and options. */
function saveRun(run: { n: number; mode: string; nodeOptions: string; build: string }): void {
  const file = new URL('./memory.json', import.meta.url);
  const runs: Array<typeof run> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
  const others = runs.filter(
    (other) =>
      other.n !== run.n ||
      other.mode !== run.mode ||
      other.nodeOptions !== run.nodeOptions ||
      other.build !== run.build,
  );
  const sorted = [...others, run].sort((a, b) => a.n - b.n || a.mode.localeCompare(b.mode));
  writeFileSync(file, `${JSON.stringify(sorted, null, 2)}\n`);
}
