/**
 * The ISC client against an emulator that injects faults: 5xx pages, 429 storms, dropped
 * connections, early token expiry and slow list endpoints. Every call must end in a result or a
 * typed error, and creates must never be duplicated. The log must contain no credential, and the
 * client's rate limiter must keep a burst within the configured rate.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { EmulatorFaults, ErrorFault } from '../../src/emulator/faults.ts';
import {
  type CallRecord,
  type EmulatorOptions,
  type RunningEmulator,
  startEmulator,
} from '../../src/emulator/server.ts';
import { IscApi } from '../../src/isc/api.ts';
import { IscClient, type IscClientOptions } from '../../src/isc/client.ts';
import {
  IscAmbiguousError,
  IscApiError,
  IscNetworkError,
  IscTaskTimeoutError,
} from '../../src/isc/errors.ts';
import type { Reference, Source } from '../../src/isc/types.ts';

const credential = { clientId: 'client-faults', clientSecret: `secret-${crypto.randomUUID()}` };

/** Fixed so that a failure can be rerun, though concurrent callers still vary the fault order. */
const faultSeed = 20_251_204;

const asyncDelayMs = 30;

let logText = '';
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logText += chunk.toString();
    done();
  },
});
const logger = pino({ level: 'debug' }, logSink);

/** Every bearer token the client sent, read from its outgoing requests, for the log scan. */
const sentAccessTokens = new Set<string>();
subscribe('http.client.request.start', (message) => {
  const authorization = (message as { request: ClientRequest }).request.getHeader('authorization');
  const match = /^Bearer (\S+)$/.exec(String(authorization ?? ''));
  if (match) sentAccessTokens.add(match[1]!);
});

const emulators: RunningEmulator[] = [];

async function startFaultyEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const emulator = await startEmulator({
    clients: [credential],
    asyncDelayMs,
    seed: faultSeed,
    ...options,
  });
  emulators.push(emulator);
  return emulator;
}

function makeApi(
  emulator: RunningEmulator,
  options: Partial<Omit<IscClientOptions, 'baseUrl' | 'logger'>> = {},
): IscApi {
  return new IscApi(
    new IscClient({ baseUrl: emulator.url, ...credential, rateLimit: 1_000, logger, ...options }),
  );
}

async function ownerOf(api: IscApi): Promise<Reference> {
  const identityId = (await api.client.tokenOwner()).identityId!;
  return { type: 'IDENTITY', id: identityId, name: (await api.getIdentityName(identityId))! };
}

/** Returns the error a promise rejects with, or fails the test when it resolves. */
async function expectRejection(promise: Promise<unknown>, description: string): Promise<unknown> {
  try {
    const value = await promise;
    assert.unreachable(`${description} returned ${JSON.stringify(value)} instead of throwing`);
  } catch (error) {
    if (error instanceof assert.Assertion) throw error;
    return error;
  }
  return undefined;
}

function isTypedIscError(error: unknown): boolean {
  return (
    error instanceof IscApiError ||
    error instanceof IscNetworkError ||
    error instanceof IscAmbiguousError ||
    error instanceof IscTaskTimeoutError
  );
}

/** Maximum number of calls that arrived within any sliding window of `windowMs`. */
function maxCallsInWindow(calls: readonly CallRecord[], windowMs: number): number {
  const arrivals = calls.map((call) => call.startedAt).sort((a, b) => a - b);
  let max = 0;
  let first = 0;
  for (let last = 0; last < arrivals.length; last++) {
    // The emulator's gateway counts a window as (now - windowMs, now], so do the same.
    while (arrivals[first]! <= arrivals[last]! - windowMs) first++;
    max = Math.max(max, last - first + 1);
  }
  return max;
}

// ---- create-then-verify runs under faults -------------------------------------------------------

/**
 * 5xx rules whose hits add up to 20% of requests, 5% per status. The first rule that fires wins,
 * so each later rule's rate is divided by the share the earlier ones left.
 */
const serverErrorFaults: ErrorFault[] = [
  { status: 500, rate: 0.05 },
  { status: 502, rate: 0.05 / 0.95 },
  { status: 503, rate: 0.05 / 0.9 },
  { status: 504, rate: 0.05 / 0.85 },
];

/** Gateway 429s that hit every request while a storm lasts, each with a Retry-After of 1 s. */
const rateLimitStorm: ErrorFault = { status: 429, rate: 1, retryAfterSeconds: 1 };

function loadFaults(storm: boolean, expireTokens: number): EmulatorFaults {
  return {
    errors: storm ? [...serverErrorFaults, rateLimitStorm] : serverErrorFaults,
    drops: [
      { phase: 'before', rate: 0.03 },
      { phase: 'after', rate: 0.03 },
      // Creates get more drops after the operation ran, the case that tempts a duplicate.
      { method: 'POST', phase: 'after', rate: 0.1 },
    ],
    expireTokens,
  };
}

/**
 * Switches faults on a schedule while the runs go on: a 250 ms storm of 429s every 5 s, and one
 * early token expiry every 10 s. Returns a function that stops the schedule.
 *
 * NOTE: the client refreshes a token at most once per call, so a call that meets two expiries
 * fails as unauthorized. The expiries are 10 s apart, longer than a call lasts here with its
 * retries (an estimate: four backoffs of at most 7.5 s in total, plus a Retry-After pause or two).
 */
function scheduleFaults(emulator: RunningEmulator): () => void {
  const tickMs = 250;
  let tick = 0;
  let storm = false;
  emulator.setFaults(loadFaults(false, 0));
  const timer = setInterval(() => {
    tick++;
    const nextStorm = tick % 20 === 0;
    const expire = tick % 40 === 4;
    if (nextStorm === storm && !expire) return;

    storm = nextStorm;
    // Setting faults resets the expiry count, so carry over what the last setting left.
    const remaining = emulator.faults().expireTokens;
    const expireTokens = (typeof remaining === 'number' ? remaining : 0) + (expire ? 1 : 0);
    emulator.setFaults(loadFaults(storm, expireTokens));
  }, tickMs);
  return () => clearInterval(timer);
}

/** What the runs met besides success, collected for the assertions. */
interface RunReport {
  /** Errors that are not one of the client's typed errors. */
  untyped: string[];
  /** Typed errors that are not transient, so an operator would stop retrying. */
  terminal: string[];
  /** Runs that still had no object after `maxRounds`. */
  unfinished: string[];
  taskTimeouts: number;
  transientErrors: number;
}

/** Requeues of one run before it counts as unfinished. Each round may itself retry calls. */
const maxRounds = 40;
const requeueDelayMs = 20;

/**
 * Sorts a failure of one round as an operator's reconcile would: returns true when the run may
 * requeue (a transient typed error), and records everything else.
 */
function mayRequeue(report: RunReport, run: string, error: unknown): boolean {
  if (!isTypedIscError(error)) {
    report.untyped.push(`${run}: ${error instanceof Error ? error.stack : String(error)}`);
    return false;
  }
  if (error instanceof IscTaskTimeoutError) report.taskTimeouts++;
  const kind = (error as IscApiError).kind;
  if (kind !== 'transient') {
    report.terminal.push(`${run}: ${(error as Error).message}`);
    return false;
  }
  report.transientErrors++;
  return true;
}

/** Ensures a source as the operator does: look up, create when absent, requeue on failure. */
async function ensureSource(
  api: IscApi,
  name: string,
  owner: Reference,
  report: RunReport,
): Promise<Source | undefined> {
  for (let round = 0; round < maxRounds; round++) {
    try {
      const existing = await api.findSourceByName(name);
      if (existing) return existing;
      return await api.createDelimitedFileSource({ name, description: 'fault run', owner });
    } catch (error) {
      if (!mayRequeue(report, `source ${name}`, error)) return undefined;
      await sleep(requeueDelayMs);
    }
  }
  report.unfinished.push(`source ${name}`);
  return undefined;
}

async function ensureIdentityProfile(
  api: IscApi,
  name: string,
  source: Source,
  report: RunReport,
): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    try {
      if (await api.findIdentityProfileByName(name)) return;
      await api.createIdentityProfile({
        name,
        authoritativeSource: { type: 'SOURCE', id: source.id, name: source.name },
        identityAttributeConfig: { enabled: true, attributeTransforms: [] },
      });
      return;
    } catch (error) {
      if (!mayRequeue(report, `identity profile ${name}`, error)) return;
      await sleep(requeueDelayMs);
    }
  }
  report.unfinished.push(`identity profile ${name}`);
}

/** Time after a create call returned before the account's absence allows another create. */
const accountCreateTimeoutMs = 300;

/**
 * Ensures an account as the operator does: one create per account id, sent again only after a
 * lookup by nativeIdentity finds nothing and the create's task completed, or after
 * `accountCreateTimeoutMs` when the create got no response. With `shortFirstWait` the first task
 * wait has a deadline the task cannot meet, so IscTaskTimeoutError is part of the run.
 */
async function ensureAccount(
  api: IscApi,
  sourceId: string,
  accountId: string,
  shortFirstWait: boolean,
  report: RunReport,
): Promise<void> {
  let pending: { returnedAt: number; taskId?: string; taskDone: boolean } | undefined;
  let taskWaits = 0;
  for (let round = 0; round < maxRounds; round++) {
    try {
      if (await api.findAccount(sourceId, accountId)) return;

      const waitedMs = pending === undefined ? 0 : Date.now() - pending.returnedAt;
      if (pending && !pending.taskDone && waitedMs < accountCreateTimeoutMs) {
        if (pending.taskId === undefined) {
          await sleep(accountCreateTimeoutMs - waitedMs);
          continue;
        }
        const deadlineMs = shortFirstWait && taskWaits === 0 ? 1 : 5_000;
        taskWaits++;
        await api.waitForTask(pending.taskId, { deadlineMs, initialDelayMs: 10, maxDelayMs: 50 });
        pending.taskDone = true;
        continue;
      }

      // A create retried after a 429 may run as late as its last attempt, so the wait for its
      // account starts when the call returns, not when it was made.
      pending = { returnedAt: Number.POSITIVE_INFINITY, taskDone: false };
      try {
        const { id: taskId } = await api.createAccount(sourceId, {
          id: accountId,
          name: accountId.toLowerCase(),
        });
        if (taskId !== undefined) pending.taskId = taskId;
      } finally {
        pending.returnedAt = Date.now();
      }
    } catch (error) {
      if (!mayRequeue(report, `account ${accountId}`, error)) return;
      await sleep(requeueDelayMs);
    }
  }
  report.unfinished.push(`account ${accountId}`);
}

/** Runs `work` for every item with at most `concurrency` in flight. */
async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Calls of an operation that ran it: a 2xx response, or a connection dropped after it ran. */
function effectiveCalls(calls: readonly CallRecord[], operationId: string): CallRecord[] {
  return calls.filter(
    (call) =>
      call.operationId === operationId &&
      ((call.status >= 200 && call.status < 300) || call.fault === 'drop-after'),
  );
}

function countBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function duplicates(counts: Map<string, number>): string[] {
  return [...counts].filter(([, count]) => count > 1).map(([key, count]) => `${key} x${count}`);
}

test('creates under faults are never duplicated', async () => {
  const emulator = await startFaultyEmulator();
  const setupApi = makeApi(emulator);
  const owner = await ownerOf(setupApi);
  const accountSource = await setupApi.createDelimitedFileSource({
    name: 'Fault accounts',
    description: 'fault run',
    owner,
  });
  emulator.clearCalls();

  const api = makeApi(emulator, { timeoutMs: 2_000 });
  const report: RunReport = {
    untyped: [],
    terminal: [],
    unfinished: [],
    taskTimeouts: 0,
    transientErrors: 0,
  };
  const sourceNames = Array.from({ length: 60 }, (_, i) => `Fault source ${i}`);
  const accountIds = Array.from({ length: 200 }, (_, i) => `FA-${i}`);

  const stopFaults = scheduleFaults(emulator);
  try {
    await forEachConcurrently(sourceNames, 8, async (name) => {
      const source = await ensureSource(api, name, owner, report);
      if (source) await ensureIdentityProfile(api, `${name} profile`, source, report);
    });
    await forEachConcurrently(accountIds, 16, (accountId, index) =>
      ensureAccount(api, accountSource.id, accountId, index % 10 === 0, report),
    );
  } finally {
    stopFaults();
    emulator.clearFaults();
  }

  assert.equal(report.untyped, [], 'an operation failed with an error that is not typed');
  assert.equal(report.terminal, [], 'an operation failed with a non-transient error');
  assert.equal(report.unfinished, [], 'a run did not finish');

  const sources = [...emulator.state.sources.values()].filter((source) =>
    source.name.startsWith('Fault source '),
  );
  assert.equal(duplicates(countBy(sources, (source) => source.name)), []);
  assert.is(sources.length, sourceNames.length);
  assert.is(effectiveCalls(emulator.calls, 'createSource').length, sourceNames.length);

  const profiles = [...emulator.state.identityProfiles.values()];
  assert.equal(duplicates(countBy(profiles, (profile) => profile.name)), []);
  assert.is(profiles.length, sourceNames.length);
  assert.is(effectiveCalls(emulator.calls, 'createIdentityProfile').length, sourceNames.length);

  // The emulator merges a second create of one nativeIdentity into the first account, so the
  // create tasks it started are what shows a duplicate create.
  const accounts = [...emulator.state.accounts.values()].filter(
    (account) => account.sourceId === accountSource.id,
  );
  assert.equal(duplicates(countBy(accounts, (account) => account.nativeIdentity)), []);
  assert.is(accounts.length, accountIds.length);
  const createTasks = [...emulator.state.tasks.values()].filter(
    (task) => task.uniqueName === 'Account Create',
  );
  assert.equal(duplicates(countBy(createTasks, (task) => task.description)), []);
  assert.is(createTasks.length, accountIds.length);

  // The faults must have happened for the runs to prove anything.
  const faultKinds = countBy(
    emulator.calls.filter((call) => call.fault !== undefined),
    (call) => (call.fault === 'error' ? `error ${call.status}` : call.fault!),
  );
  for (const kind of [
    'error 429',
    'error 500',
    'error 502',
    'error 503',
    'error 504',
    'drop-before',
    'drop-after',
    'expired-token',
  ]) {
    assert.ok(
      (faultKinds.get(kind) ?? 0) > 0,
      `no "${kind}" fault: ${JSON.stringify([...faultKinds])}`,
    );
  }
  for (const operationId of ['createSource', 'createIdentityProfile', 'createAccount']) {
    const droppedAfter = emulator.calls.filter(
      (call) => call.operationId === operationId && call.fault === 'drop-after',
    );
    assert.ok(droppedAfter.length > 0, `no ${operationId} was dropped after it ran`);
  }
  assert.ok(report.taskTimeouts > 0, 'no task wait timed out');
  assert.ok(report.transientErrors > 0, 'no run had to requeue');
  assert.equal(emulator.contractViolations, []);
});

// ---- lookups that fail are not absence ----------------------------------------------------------

const lookupFailures: Array<{ name: string; faults: EmulatorFaults; expected: string }> = [
  { name: '500', faults: { errors: [{ status: 500 }] }, expected: 'IscApiError 500' },
  { name: '502 page', faults: { errors: [{ status: 502 }] }, expected: 'IscApiError 502' },
  { name: '503 empty', faults: { errors: [{ status: 503 }] }, expected: 'IscApiError 503' },
  { name: '504 page', faults: { errors: [{ status: 504 }] }, expected: 'IscApiError 504' },
  {
    name: '429',
    faults: { errors: [{ status: 429, retryAfterSeconds: 0 }] },
    expected: 'IscApiError 429',
  },
  { name: 'dropped', faults: { drops: [{ phase: 'before' }] }, expected: 'IscNetworkError' },
  { name: 'timeout', faults: { latency: [{ fixedMs: 1_500 }] }, expected: 'IscNetworkError' },
];

function describeError(error: unknown): string {
  if (error instanceof IscApiError) return `IscApiError ${error.status}`;
  if (error instanceof IscNetworkError) return 'IscNetworkError';
  return String(error);
}

test('failed lookups throw, never return absent', async () => {
  const emulator = await startFaultyEmulator();
  const setupApi = makeApi(emulator);
  const source = await setupApi.createDelimitedFileSource({
    name: 'Lookup source',
    description: 'lookup test',
    owner: await ownerOf(setupApi),
  });
  const { id: taskId } = await setupApi.createAccount(source.id, { id: 'L-1', name: 'l-1' });
  await setupApi.waitForTask(taskId!, { initialDelayMs: 10, deadlineMs: 5_000 });

  const lookups: Array<{
    name: string;
    operation: string;
    run: (api: IscApi) => Promise<unknown>;
  }> = [
    {
      name: 'findSourceByName',
      operation: 'listSources',
      run: (api) => api.findSourceByName('Lookup source'),
    },
    {
      name: 'findAccount',
      operation: 'listAccounts',
      run: (api) => api.findAccount(source.id, 'L-1'),
    },
    {
      name: 'findIdentityProfileByName',
      operation: 'listIdentityProfiles',
      run: (api) => api.findIdentityProfileByName('none'),
    },
  ];

  // One retry and a short timeout keep each case under about two seconds.
  const api = makeApi(emulator, { maxRetries: 1, timeoutMs: 300 });
  await api.client.tokenOwner();
  for (const lookup of lookups) {
    for (const failure of lookupFailures) {
      const faults = structuredClone(failure.faults);
      for (const rule of [
        ...(faults.errors ?? []),
        ...(faults.drops ?? []),
        ...(faults.latency ?? []),
      ]) {
        rule.operation = lookup.operation;
      }
      emulator.setFaults(faults);
      const error = await expectRejection(lookup.run(api), `${lookup.name} with ${failure.name}`);
      emulator.clearFaults();
      assert.is(describeError(error), failure.expected, `${lookup.name} with ${failure.name}`);
      assert.is((error as IscApiError).kind, 'transient', `${lookup.name} with ${failure.name}`);
    }
  }

  // Without faults the same lookups tell presence from absence.
  assert.is((await api.findSourceByName('Lookup source'))?.id, source.id);
  assert.is(await api.findSourceByName('No such source'), undefined);
  assert.is((await api.findAccount(source.id, 'L-1'))?.nativeIdentity, 'L-1');
  assert.is(await api.findAccount(source.id, 'L-2'), undefined);
  assert.is(await api.getIdentity('0123456789abcdef0123456789abcdef'), undefined);
});

test('timed out lookup is a network error', async () => {
  const emulator = await startFaultyEmulator({
    faults: { latency: [{ operation: 'listSources', fixedMs: 1_500 }] },
  });
  const api = makeApi(emulator, { maxRetries: 0, timeoutMs: 200 });
  const error = await expectRejection(
    api.findSourceByName('x'),
    'findSourceByName past its timeout',
  );
  assert.instance(error, IscNetworkError);
  assert.is((error as IscNetworkError).code, 'ETIMEDOUT');
});

// ---- createOrFind ------------------------------------------------------------------------------

test('source create dropped after it ran is found', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator);
  const owner = await ownerOf(api);

  emulator.setFaults({ drops: [{ operation: 'createSource', phase: 'after' }] });
  const source = await api.createDelimitedFileSource({
    name: 'Dropped after',
    description: 'x',
    owner,
  });
  emulator.clearFaults();
  assert.is(source.name, 'Dropped after');
  assert.is(emulator.state.sources.get(source.id)?.name, 'Dropped after');
  const creates = emulator.calls.filter((call) => call.operationId === 'createSource');
  assert.is(creates.length, 1, 'the create was sent again');
  assert.is(creates[0]!.fault, 'drop-after');
});

test('profile create dropped after it ran is found', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator);
  const source = await api.createDelimitedFileSource({
    name: 'Profile source',
    description: 'x',
    owner: await ownerOf(api),
  });

  emulator.setFaults({ drops: [{ operation: 'createIdentityProfile', phase: 'after' }] });
  const profile = await api.createIdentityProfile({
    name: 'Dropped profile',
    authoritativeSource: { type: 'SOURCE', id: source.id, name: source.name },
  });
  emulator.clearFaults();
  assert.is(profile.name, 'Dropped profile');
  assert.is(emulator.state.identityProfiles.size, 1);
  const creates = emulator.calls.filter((call) => call.operationId === 'createIdentityProfile');
  assert.is(creates.length, 1, 'the create was sent again');
});

const createFailures: Array<{ name: string; faults: EmulatorFaults; expected: string }> = [
  {
    name: 'dropped before',
    faults: { drops: [{ operation: 'createSource', phase: 'before' }] },
    expected: 'IscNetworkError',
  },
  {
    name: '500',
    faults: { errors: [{ operation: 'createSource', status: 500 }] },
    expected: 'IscApiError 500',
  },
  {
    name: '504 page',
    faults: { errors: [{ operation: 'createSource', status: 504 }] },
    expected: 'IscApiError 504',
  },
];

test('create that did not run throws', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator);
  const owner = await ownerOf(api);
  for (const failure of createFailures) {
    const name = `Not created ${failure.name}`;
    emulator.setFaults(failure.faults);
    const error = await expectRejection(
      api.createDelimitedFileSource({ name, description: 'x', owner }),
      `create ${failure.name}`,
    );
    emulator.clearFaults();
    assert.is(describeError(error), failure.expected, failure.name);
    assert.is(await api.findSourceByName(name), undefined, `${failure.name} left a source`);
  }
  // A POST is not sent again after a 5xx or a drop, because ISC may have acted on it.
  const creates = emulator.calls.filter((call) => call.operationId === 'createSource');
  assert.is(creates.length, createFailures.length);
});

test('create rate limited is sent again', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator);
  const owner = await ownerOf(api);
  emulator.setFaults({
    seed: 1,
    errors: [{ operation: 'createSource', status: 429, retryAfterSeconds: 0, rate: 0.5 }],
  });
  const names = ['Limited 1', 'Limited 2', 'Limited 3', 'Limited 4'];
  for (const name of names) await api.createDelimitedFileSource({ name, description: 'x', owner });
  emulator.clearFaults();

  const limited = emulator.calls.filter(
    (call) => call.operationId === 'createSource' && call.status === 429,
  );
  assert.ok(limited.length > 0, 'no create was rate limited');
  assert.is(effectiveCalls(emulator.calls, 'createSource').length, names.length);
});

// ---- token expiry and refresh ------------------------------------------------------------------

test('expired token is refreshed once', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator);
  await api.findSourceByName('warm up');
  emulator.clearCalls();

  emulator.setFaults({ expireTokens: 1 });
  assert.is(await api.findSourceByName('none'), undefined);

  const calls = emulator.calls.map(
    (call) => `${call.operationId} ${call.status} ${call.fault ?? ''}`,
  );
  assert.equal(calls, [
    'listSources 401 expired-token',
    'createOauthToken 200 ',
    'listSources 200 ',
  ]);
});

test('concurrent expired calls share a refresh', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator);
  await api.findSourceByName('warm up');
  emulator.clearCalls();

  emulator.setFaults({ expireTokens: 1 });
  const found = await Promise.all(Array.from({ length: 20 }, () => api.findSourceByName('none')));
  assert.equal(found, new Array(20).fill(undefined));
  const expired = emulator.calls.filter((call) => call.fault === 'expired-token');
  assert.is(expired.length, 20);
  const tokenCalls = emulator.calls.filter((call) => call.operationId === 'createOauthToken');
  assert.is(tokenCalls.length, 1, `${tokenCalls.length} token requests for one expiry`);
});

test('token expiring in the limiter queue is renewed', async () => {
  // A ten-second token is renewed one second early, which covers the emulator's rounding of its
  // expiry down to whole seconds. Three calls per second keep 36 calls queued for about 12 s.
  const emulator = await startFaultyEmulator({ tokenTtlSeconds: 10 });
  const api = makeApi(emulator, { rateLimit: 3, rateLimitWindowMs: 1_000 });
  const results = await Promise.allSettled(
    Array.from({ length: 36 }, (_, i) => api.findSourceByName(`queued ${i}`)),
  );

  const failures = results.flatMap((result) =>
    result.status === 'rejected' ? [(result.reason as Error).message] : [],
  );
  assert.equal(failures, [], 'a queued call failed');
  const rejected = emulator.calls.filter((call) => call.status === 401);
  assert.is(rejected.length, 0, 'the client sent a token that had expired while it waited');
});

test('wrong secret is unauthorized', async () => {
  const emulator = await startFaultyEmulator();
  const api = makeApi(emulator, { clientSecret: 'wrong' });
  const error = await expectRejection(api.findSourceByName('x'), 'a call with a wrong secret');
  assert.instance(error, IscApiError);
  assert.is((error as IscApiError).kind, 'unauthorized');
  assert.is((error as IscApiError).path, '/oauth/token');
  // One fresh token decides, so the client does not loop on a bad credential.
  const tokenCalls = emulator.calls.filter((call) => call.operationId === 'createOauthToken');
  assert.is(tokenCalls.length, 2);
});

test('token rejected after refresh is unauthorized', async () => {
  const emulator = await startFaultyEmulator({ faults: { expireTokens: 'all' } });
  const api = makeApi(emulator);
  const error = await expectRejection(api.findSourceByName('x'), 'a call whose tokens all fail');
  assert.instance(error, IscApiError);
  assert.is((error as IscApiError).kind, 'unauthorized');
  const listCalls = emulator.calls.filter((call) => call.operationId === 'listSources');
  assert.is(listCalls.length, 2);
});

// ---- rate limit --------------------------------------------------------------------------------

test('burst of 1000 calls stays within rate', async () => {
  const limit = 200;
  const windowMs = 1_000;
  const emulator = await startFaultyEmulator({ rateLimit: { requests: limit, windowMs } });
  const api = makeApi(emulator, { rateLimit: limit, rateLimitWindowMs: windowMs });

  const found = await Promise.all(
    Array.from({ length: 1_000 }, (_, i) => api.findSourceByName(`burst ${i}`)),
  );
  assert.is(found.filter((source) => source !== undefined).length, 0);

  const limited = emulator.rateLimitCounts().filter((count) => count.limited > 0);
  assert.equal(limited, [], 'the emulator rate limited the client');
  // The client's limiter counts its token request too.
  const maxInWindow = maxCallsInWindow(emulator.calls, windowMs);
  assert.ok(maxInWindow <= limit, `${maxInWindow} calls arrived within ${windowMs} ms`);
  const listCalls = emulator.calls.filter((call) => call.operationId === 'listSources');
  assert.is(listCalls.length, 1_000, 'calls were sent again');
});

// ---- log --------------------------------------------------------------------------------------

test('client log contains no credential', () => {
  assert.ok(logText.includes('"level":20'), 'the client logged nothing at debug level');
  assert.ok(logText.includes('retrying ISC call'), 'the client logged no retry');
  // The run under faults refreshes expired tokens, so more than one must have been sent.
  assert.ok(sentAccessTokens.size > 1, `only ${sentAccessTokens.size} access token was sent`);

  assert.not.ok(logText.includes(credential.clientSecret), 'client secret in the log');
  for (const token of sentAccessTokens) {
    const signature = token.split('.')[2]!;
    assert.not.ok(logText.includes(token), 'an access token is in the log');
    assert.not.ok(logText.includes(signature), 'an access token signature is in the log');
  }
  assert.not.match(logText, /Bearer /i);
  assert.not.match(logText, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+/);
});

test.after(async () => {
  for (const emulator of emulators) await emulator.close();
});

test.run();
