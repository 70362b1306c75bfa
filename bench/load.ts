// Load and soak runs: node bench/load.ts [--soak] [--resources N] [--minutes M] [--updates U]
//
// Starts a local kube-apiserver with the chart's RBAC, the ISC emulator and the operator under
// the chart's ServiceAccount, creates N ServiceAccounts in one burst, then sends U spec updates
// a minute for M minutes, and waits until every resource converged. It prints the operator's
// resident memory every 5 s and a JSON report at the end. It exits with 1 on a resource left
// unreconciled, a lost update, an account created twice, or a failed reconcile that never
// showed in the resource's condition.
//
// Defaults: `npm run load` is 10,000 resources and 1,000 updates a minute for 10 minutes,
// which start once the burst converged, and the run fails unless the operator kept up (see
// keptUp below);
// `npm run soak` (--soak) is 200 resources and 300 updates a minute for 10 minutes while about
// 20% of ISC calls fail. The operator's client-side ISC rate limit is raised to 5,000 requests
// per 10 s, because the run measures the operator, not ISC's gateway. Everything listens on
// and talks to 127.0.0.1 only.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { memoryGrowthMiB, runLoad, twentyPercentFaults } from '../test/support/load-run.ts';
import { startReliabilityEnv } from '../test/support/reliability-env.ts';

const { values } = parseArgs({
  options: {
    soak: { type: 'boolean', default: false },
    resources: { type: 'string' },
    minutes: { type: 'string' },
    updates: { type: 'string' },
    out: { type: 'string' },
  },
});

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`--${name} "${text}" is invalid: expected a positive number`);
  }
  return value;
}

const soak = values.soak ?? false;
const resources = positive('resources', values.resources, soak ? 200 : 10_000);
const minutes = positive('minutes', values.minutes, 10);
const updatesPerMinute = positive('updates', values.updates, soak ? 300 : 1_000);
const seed = 4_711;
const started = Date.now();
const progress = (line: string) => {
  process.stdout.write(`[${Math.round((Date.now() - started) / 1000)}s] ${line}\n`);
};

const env = await startReliabilityEnv(soak ? 'soak' : 'load', { seed });
let failed = false;
try {
  const operator = env.startOperator({
    ISC_RATE_LIMIT_PER_10S: '5000',
    OPERATOR_RESYNC_SECONDS: '600',
    LOG_LEVEL: 'warn',
  });
  const report = await runLoad(env, operator, {
    namespace: soak ? 'soak' : 'load',
    resources,
    updateMs: minutes * 60_000,
    updatesPerMinute,
    ...(soak ? { faults: twentyPercentFaults(seed) } : {}),
    convergeTimeoutMs: Math.max(600_000, resources * 200),
    updatesAfterBurst: !soak,
    progress,
  });
  const rss = report.memory.map((sample) => sample.rssMiB);
  const result = {
    kind: soak ? 'soak' : 'load',
    cpus: cpus().length,
    resources,
    minutes,
    updatesPerMinute,
    updatesSent: report.updatesSent,
    updatesFailed: report.updatesFailed,
    faultsInjected: report.faultsInjected,
    iscCalls: report.iscCalls,
    reportedFailures: report.reportedFailures,
    burstConvergedSeconds:
      report.burstConvergedMs === undefined ? null : Math.round(report.burstConvergedMs / 1000),
    finalConvergedSeconds:
      report.finalConvergedMs === undefined ? null : Math.round(report.finalConvergedMs / 1000),
    updateLagSeconds: report.updateLagMs && {
      p50: report.updateLagMs.p50 / 1000,
      p99: report.updateLagMs.p99 / 1000,
      max: report.updateLagMs.max / 1000,
    },
    updatesNeverConverged: report.updatesNeverConverged,
    maxBacklogDuringUpdates: report.maxBacklogDuringUpdates,
    keptUp: keptUp(report),
    rssMiB: {
      min: Math.round(Math.min(...rss)),
      max: Math.round(Math.max(...rss)),
      growthDuringUpdates: Math.round(memoryGrowthMiB(report)),
    },
    unreconciled: report.unreconciled.length,
    lostUpdates: report.lostUpdates.length,
    duplicateCreates: Object.keys(report.duplicateCreates).length,
    duplicateAccounts: Object.keys(report.duplicateAccounts).length,
    unreportedFailures: report.unreportedFailures.length,
    memory: report.memory,
  };
  if (values.out) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
  const { memory: _samples, ...shown } = result;
  process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  failed =
    result.unreconciled + result.lostUpdates + result.duplicateCreates + result.duplicateAccounts >
      0 ||
    result.unreportedFailures > 0 ||
    result.updatesFailed > 0 ||
    (!soak && !result.keptUp);
  if (failed) {
    process.stdout.write(
      `problems: ${JSON.stringify({
        unreconciled: report.unreconciled.slice(0, 20),
        lostUpdates: report.lostUpdates.slice(0, 20),
        duplicateCreates: report.duplicateCreates,
        unreportedFailures: report.unreportedFailures.slice(0, 20),
      })}\n`,
    );
  }
} finally {
  await env.stop();
}
process.exit(failed ? 1 : 0);

/**
 * Returns whether the operator kept up: every update converged, 99% of them within a minute of the
 * patch, and the last ones within a minute of the update phase's end: the backlog did not
 * grow with the stream. The soak injects faults and is judged by convergence only.
 */
function keptUp(report: Awaited<ReturnType<typeof runLoad>>): boolean {
  return (
    report.updatesNeverConverged === 0 &&
    report.updateLagMs !== undefined &&
    report.updateLagMs.p99 <= 60_000 &&
    report.finalConvergedMs !== undefined &&
    report.finalConvergedMs <= 60_000
  );
}
