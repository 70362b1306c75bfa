/**
 * Load against a running operator: a burst of ServiceAccount creates, then spec updates at a
 * fixed rate, optionally while the emulator injects faults. It samples the operator's resident
 * memory and records every Ready reason each resource reports, through a watch. At the end it
 * checks that every resource converged, that each account has its resource's last update, and
 * that no account was created twice. Used by the test suite in a short form and by `npm run load` and
 * `npm run soak` in full.
 */
import { readFile } from 'node:fs/promises';
import { Watch } from '@kubernetes/client-node';
import type { EmulatorFaults } from '../../src/emulator/faults.ts';
import { group, type ServiceAccount, serviceAccountPlural, version } from '../../src/kube/types.ts';
import type { OperatorProcess } from './operator-process.ts';
import {
  accountsOnSource,
  condition,
  createResource,
  createTaskIds,
  duplicates,
  isConverged,
  listResources,
  patchResource,
  type ReliabilityEnv,
} from './reliability-env.ts';

export interface LoadOptions {
  namespace: string;
  /** Resources created at once, at the start. */
  resources: number;
  /** Length of the update phase, in milliseconds. */
  updateMs: number;
  updatesPerMinute: number;
  /** Faults the emulator injects from the burst until the update phase ends. */
  faults?: EmulatorFaults;
  /** Time the resources get to converge after the update phase, in milliseconds. */
  convergeTimeoutMs: number;
  /**
   * Starts the updates once the burst converged (or `convergeTimeoutMs` passed), so that the
   * update phase measures how the operator follows a stream of changes, apart from the burst.
   * By default the updates start as soon as the burst is created.
   */
  updatesAfterBurst?: boolean;
  /** Writes progress lines; silent by default. */
  progress?: (line: string) => void;
}

export interface MemorySample {
  /** Milliseconds since the burst started. */
  atMs: number;
  rssMiB: number;
  /** Resources not Ready at their generation when the sample was taken, -1 if not counted. */
  backlog: number;
}

export interface LoadReport {
  resources: number;
  updatesSent: number;
  updatesFailed: number;
  /** Milliseconds from the burst's start until the update phase started. */
  updateStartedAtMs: number;
  /** Milliseconds from the burst's start until every resource was first converged. */
  burstConvergedMs: number | undefined;
  /** Milliseconds from the end of the update phase until every resource converged. */
  finalConvergedMs: number | undefined;
  /**
   * Per update, the time from the API server's response to the patch until a watch saw the
   * resource Ready at that generation or a later one, in milliseconds. Updates whose resource
   * never got there are counted in `updatesNeverConverged`.
   */
  updateLagMs: { p50: number; p99: number; max: number } | undefined;
  updatesNeverConverged: number;
  /** Largest count of resources not Ready at their generation during the update phase. */
  maxBacklogDuringUpdates: number;
  memory: MemorySample[];
  /** Resources not Ready at their generation at the end, with their Ready reason. */
  unreconciled: string[];
  /** Resources whose account in ISC does not hold the purpose the API server stored last. */
  lostUpdates: string[];
  /** Account ids with more than one create task, and nativeIdentities on several accounts. */
  duplicateCreates: Record<string, number>;
  duplicateAccounts: Record<string, number>;
  /** Emulator calls the faults changed. */
  faultsInjected: number;
  iscCalls: number;
  /**
   * Resources whose reconcile failed (from the operator's log, by reason) without the watch
   * ever seeing that reason in their Ready condition.
   */
  unreportedFailures: string[];
  /** Resources that reported a failure reason in Ready at least once, by reason. */
  reportedFailures: Record<string, number>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * About one ISC call in five fails, spread over what ISC's gateway shows: 429 with Retry-After,
 * 500, HTML 502, empty 503, 504, and connections dropped before or after the service acted.
 * A dropped connection is what a timeout looks like to the client, without waiting for the
 * client's own 30 s timeout. Token requests fail too. Account creates get 429 and 503, and a 503 makes the
 * operator wait out the create timeout before it sends the create again.
 */
export function twentyPercentFaults(seed: number): EmulatorFaults {
  return {
    seed,
    errors: [
      { operation: 'createAccount', status: 429, rate: 0.15, retryAfterSeconds: 1 },
      { operation: 'createAccount', status: 503, rate: 0.05 },
      ...(['GET', 'PUT', 'PATCH', 'DELETE'] as const).flatMap((method) => [
        { method, status: 429 as const, rate: 0.05, retryAfterSeconds: 1 },
        { method, status: 500 as const, rate: 0.04 },
        { method, status: 502 as const, rate: 0.03 },
        { method, status: 503 as const, rate: 0.02 },
        { method, status: 504 as const, rate: 0.02 },
      ]),
      { path: '/oauth/token', status: 503, rate: 0.2 },
    ],
    drops: (['GET', 'PUT', 'DELETE'] as const).flatMap((method) => [
      { method, phase: 'before' as const, rate: 0.02 },
      { method, phase: 'after' as const, rate: 0.02 },
    ]),
  };
}
const failureReasons = new Set(['IscUnavailable', 'Unauthorized']);

/** Resident set size of a process in MiB, from /proc; undefined once the process is gone. */
export async function residentMemoryMiB(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

/**
 * Returns the name of the index-th resource. The namespace is part of it because ISC account
 * names, which default to the resource's name, must be unique across namespaces.
 */
function nameOf(namespace: string, index: number): string {
  return `${namespace}-${String(index).padStart(5, '0')}`;
}

/** Runs `task` over `items` with at most `limit` at once. */
async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item);
    }
  });
  await Promise.all(runners);
}

/** Counts the resources not Ready at their generation; returns them with their reason. */
async function notConverged(env: ReliabilityEnv, namespace: string): Promise<string[]> {
  const resources = await listResources(env.customObjects, namespace);
  return resources
    .filter((resource) => !isConverged(resource))
    .map((resource) => `${resource.metadata.name}: ${condition(resource, 'Ready')?.reason}`);
}

/**
 * Times each update from the patch's response until the resource is seen Ready at that
 * generation or a later one. A later generation converging settles the earlier updates too.
 */
class UpdateLag {
  private readonly pending = new Map<string, Array<{ generation: number; sentAt: number }>>();
  private readonly convergedGeneration = new Map<string, number>();
  readonly lagsMs: number[] = [];

  sent(name: string, generation: number, sentAt: number): void {
    // The watch may have seen this generation converge before the patch's response arrived.
    if ((this.convergedGeneration.get(name) ?? 0) >= generation) {
      this.lagsMs.push(0);
      return;
    }
    const list = this.pending.get(name) ?? [];
    list.push({ generation, sentAt });
    this.pending.set(name, list);
  }

  converged(name: string, generation: number): void {
    if ((this.convergedGeneration.get(name) ?? 0) < generation) {
      this.convergedGeneration.set(name, generation);
    }
    const list = this.pending.get(name);
    if (!list) return;
    const now = Date.now();
    const left = list.filter((update) => {
      if (update.generation > generation) return true;
      this.lagsMs.push(now - update.sentAt);
      return false;
    });
    if (left.length === 0) this.pending.delete(name);
    else this.pending.set(name, left);
  }

  get open(): number {
    let count = 0;
    for (const list of this.pending.values()) count += list.length;
    return count;
  }

  summary(): { p50: number; p99: number; max: number } | undefined {
    if (this.lagsMs.length === 0) return undefined;
    const sorted = [...this.lagsMs].sort((a, b) => a - b);
    const at = (quantile: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))]!;
    return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! };
  }
}

/**
 * Records, per resource, every Ready reason a watch delivers in `namespace` until `stop()`.
 * A watch that ends early is started again from the last resourceVersion it saw.
 */
function watchReadyReasons(env: ReliabilityEnv, namespace: string) {
  const reasons = new Map<string, Set<string>>();
  const lag = new UpdateLag();
  let stopped = false;
  let abort: (() => void) | undefined;
  let resourceVersion: string | undefined;
  const path = `/apis/${group}/${version}/namespaces/${namespace}/${serviceAccountPlural}`;
  const watch = new Watch(env.kubeConfig);
  const start = async () => {
    if (stopped) return;
    const controller = await watch.watch(
      path,
      resourceVersion ? { resourceVersion } : {},
      (_phase: string, resource: ServiceAccount) => {
        resourceVersion = resource.metadata?.resourceVersion ?? resourceVersion;
        if (isConverged(resource)) {
          lag.converged(resource.metadata.name, resource.metadata.generation ?? 0);
        }
        const reason = condition(resource, 'Ready')?.reason;
        if (!reason) return;
        const seen = reasons.get(resource.metadata.name) ?? new Set<string>();
        seen.add(reason);
        reasons.set(resource.metadata.name, seen);
      },
      () => {
        if (!stopped) setTimeout(() => void start().catch(() => undefined), 500);
      },
    );
    abort = () => controller.abort();
  };
  const started = start();
  return {
    started,
    reasons,
    lag,
    stop() {
      stopped = true;
      abort?.();
    },
  };
}

/**
 * Returns, per resource, the failure reasons the operator logged for it: "reconcile failed;
 * retrying" lines carry the resource's namespace, name and reason.
 */
function loggedFailures(operators: readonly OperatorProcess[], namespace: string) {
  const failures = new Map<string, Set<string>>();
  for (const operator of operators) {
    for (const line of operator.output().split('\n')) {
      if (!line.includes('reconcile failed; retrying')) continue;
      let entry: { namespace?: string; name?: string; reason?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      if (entry.namespace !== namespace || !entry.name || !entry.reason) continue;
      const seen = failures.get(entry.name) ?? new Set<string>();
      seen.add(entry.reason);
      failures.set(entry.name, seen);
    }
  }
  return failures;
}

/** Runs the load against the operator `operator` of `env` and returns what it measured. */
export async function runLoad(
  env: ReliabilityEnv,
  operator: OperatorProcess,
  options: LoadOptions,
): Promise<LoadReport> {
  const { namespace } = options;
  const progress = options.progress ?? (() => undefined);
  await env.core.createNamespace({ body: { metadata: { name: namespace } } });
  const reasons = watchReadyReasons(env, namespace);
  await reasons.started;
  const callsBefore = env.emulator.calls.length;
  const burstStart = Date.now();
  const memory: MemorySample[] = [];
  let sampling = true;
  let burstConvergedMs: number | undefined;
  let burstCreated = false;
  const sampler = (async () => {
    while (sampling) {
      const rssMiB = await residentMemoryMiB(operator.child.pid!);
      // Counting the backlog lists every resource, so it is done every 15 s only.
      const count = memory.length % 3 === 0;
      const backlog = count ? (await notConverged(env, namespace)).length : -1;
      if (rssMiB !== undefined) memory.push({ atMs: Date.now() - burstStart, rssMiB, backlog });
      if (count && burstCreated && backlog === 0 && burstConvergedMs === undefined) {
        burstConvergedMs = Date.now() - burstStart;
      }
      progress(
        `t=${Math.round((Date.now() - burstStart) / 1000)}s rss=${rssMiB?.toFixed(1)}MiB backlog=${backlog}`,
      );
      await sleep(5_000);
    }
  })();

  if (options.faults) env.emulator.setFaults(options.faults);
  const indexes = Array.from({ length: options.resources }, (_, index) => index);
  try {
    await inParallel(indexes, 20, async (index) => {
      await createResource(env.customObjects, namespace, nameOf(namespace, index), {
        accountId: `${namespace}-${String(index).padStart(5, '0')}`,
        email: `load${index}@example.com`,
        purpose: `Created ${index}`,
      });
    });
    burstCreated = true;
    progress(`created ${options.resources} resources in ${Date.now() - burstStart} ms`);
    if (options.updatesAfterBurst) {
      const waitStart = Date.now();
      while (burstConvergedMs === undefined && Date.now() - waitStart < options.convergeTimeoutMs) {
        await sleep(2_000);
      }
      progress(
        burstConvergedMs === undefined
          ? 'the burst did not converge in time; updates start anyway'
          : `burst converged after ${Math.round(burstConvergedMs / 1000)} s; updates start`,
      );
    }

    // Updates go out at a fixed rate, round robin over the resources.
    const intervalMs = 60_000 / options.updatesPerMinute;
    const updateStart = Date.now();
    let updatesSent = 0;
    let updatesFailed = 0;
    const inFlight = new Set<Promise<void>>();
    for (let update = 0; Date.now() - updateStart < options.updateMs; update++) {
      const dueAt = updateStart + update * intervalMs;
      if (dueAt > Date.now()) await sleep(dueAt - Date.now());
      const index = update % options.resources;
      const name = nameOf(namespace, index);
      const sent = patchResource(env.customObjects, namespace, name, [
        { op: 'replace', path: '/spec/purpose', value: `Update ${update} of ${index}` },
      ]).then(
        (generation) => {
          updatesSent++;
          reasons.lag.sent(name, generation, Date.now());
        },
        () => {
          updatesFailed++;
        },
      );
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
      if (inFlight.size >= 20) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (options.faults) env.emulator.clearFaults();
    progress(`sent ${updatesSent} updates (${updatesFailed} failed); waiting to converge`);

    const convergeStart = Date.now();
    let unreconciled = await notConverged(env, namespace);
    while (unreconciled.length > 0 && Date.now() - convergeStart < options.convergeTimeoutMs) {
      await sleep(2_000);
      unreconciled = await notConverged(env, namespace);
    }
    const finalConvergedMs = unreconciled.length === 0 ? Date.now() - convergeStart : undefined;
    sampling = false;
    await sampler;
    reasons.stop();

    const resources = await listResources(env.customObjects, namespace);
    const accounts = accountsOnSource(env.emulator);
    const byNativeIdentity = new Map(accounts.map((account) => [account.nativeIdentity, account]));
    const lostUpdates = resources
      .filter(
        (resource) =>
          byNativeIdentity.get(resource.spec.accountId ?? '')?.attributes.purpose !==
          resource.spec.purpose,
      )
      .map((resource) => resource.metadata.name);

    const failures = loggedFailures(env.operators, namespace);
    const unreportedFailures: string[] = [];
    for (const [name, failed] of failures) {
      for (const reason of failed) {
        if (!reasons.reasons.get(name)?.has(reason)) unreportedFailures.push(`${name}: ${reason}`);
      }
    }
    const reportedFailures: Record<string, number> = {};
    for (const seen of reasons.reasons.values()) {
      for (const reason of seen) {
        if (failureReasons.has(reason)) {
          reportedFailures[reason] = (reportedFailures[reason] ?? 0) + 1;
        }
      }
    }
    const calls = env.emulator.calls.slice(callsBefore);
    const updateEndMs = updateStart - burstStart + options.updateMs;
    const backlogs = memory
      .filter((sample) => sample.atMs >= updateStart - burstStart && sample.atMs <= updateEndMs)
      .map((sample) => sample.backlog);
    return {
      resources: options.resources,
      updateLagMs: reasons.lag.summary(),
      updatesNeverConverged: reasons.lag.open,
      maxBacklogDuringUpdates: Math.max(0, ...backlogs),
      updateStartedAtMs: updateStart - burstStart,
      updatesSent,
      updatesFailed,
      burstConvergedMs,
      finalConvergedMs,
      memory,
      unreconciled,
      lostUpdates,
      duplicateCreates: duplicates(createTaskIds(env.emulator)),
      duplicateAccounts: duplicates(
        accounts.map((account) => account.nativeIdentity.toLowerCase()),
      ),
      faultsInjected: calls.filter((call) => call.fault !== undefined).length,
      iscCalls: calls.length,
      unreportedFailures,
      reportedFailures,
    };
  } finally {
    sampling = false;
    reasons.stop();
    if (options.faults) env.emulator.clearFaults();
  }
}

/**
 * Compares the resident memory of the update phase's last quarter with its first quarter and
 * returns the growth in MiB (negative when it shrank). Samples during the burst are left out,
 * because the burst fills the informer cache once.
 */
export function memoryGrowthMiB(report: LoadReport): number {
  const samples = report.memory.filter((sample) => sample.atMs >= report.updateStartedAtMs);
  if (samples.length < 4) return 0;
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const mean = (list: MemorySample[]) =>
    list.reduce((sum, sample) => sum + sample.rssMiB, 0) / list.length;
  return mean(samples.slice(-quarter)) - mean(samples.slice(0, quarter));
}
