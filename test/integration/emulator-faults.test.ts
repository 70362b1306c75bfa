import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { EmulatorFaults } from '../../src/emulator/faults.ts';
import type { EmulatorFixtures } from '../../src/emulator/fixtures.ts';
import {
  type EmulatorOptions,
  type RunningEmulator,
  startEmulator,
} from '../../src/emulator/server.ts';

// Fault injection, rate limiting, list order and lag, the state file and metrics of the emulator.
// Each test starts its own emulator, and none may leave a response that breaks the ISC contract.

const asyncDelayMs = 30;

/** Node timers can fire a few milliseconds early against the wall clock, so delays allow this. */
const timerToleranceMs = 5;

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

interface Context {
  emulator: RunningEmulator;
  token: string;
  /** Emulators started by the test besides the current one, closed after it. */
  others: RunningEmulator[];
}

const context = { others: [] } as unknown as Context;

function json<T = Json>(reply: Reply): T {
  return JSON.parse(reply.text) as T;
}

async function send(
  method: string,
  path: string,
  options: { body?: unknown; token?: string | null; emulator?: RunningEmulator } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? context.token : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(options.body);
  }
  const emulator = options.emulator ?? context.emulator;
  const response = await fetch(`${emulator.url}${path}`, { method, headers, body: payload });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function requestToken(
  emulator = context.emulator,
  client = emulator.clients[0]!,
): Promise<Reply> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  const response = await fetch(`${emulator.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function tokenFor(emulator: RunningEmulator): Promise<string> {
  return json<{ access_token: string }>(await requestToken(emulator)).access_token;
}

/** Replaces the test's emulator with one started with `options`, and takes a new token. */
async function restartEmulator(options: EmulatorOptions): Promise<void> {
  await context.emulator.close();
  context.emulator = await startEmulator({ asyncDelayMs, ...options });
  context.token = await tokenFor(context.emulator);
}

/** Starts a further emulator that the test closes at its end. */
async function startOther(options: EmulatorOptions): Promise<RunningEmulator> {
  const emulator = await startEmulator({ asyncDelayMs, ...options });
  context.others.push(emulator);
  return emulator;
}

/** Polls `probe` until it returns a value other than undefined, or fails after two seconds. */
async function eventually<T>(description: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${description}`);
}

async function createSource(name: string, emulator = context.emulator): Promise<Json> {
  const response = await send('POST', '/v2025/sources?provisionAsCsv=true', {
    emulator,
    body: {
      name,
      owner: { type: 'IDENTITY', id: emulator.adminIdentityId },
      connector: 'delimited-file-angularsc',
    },
  });
  assert.is(response.status, 201);
  return json(response);
}

function accountBody(sourceId: string, id: string): Json {
  return { attributes: { sourceId, id, name: id.toLowerCase() } };
}

async function findAccounts(sourceId: string): Promise<Json[]> {
  const filter = encodeURIComponent(`sourceId eq "${sourceId}"`);
  const response = await send('GET', `/v2025/accounts?filters=${filter}&sorters=name`);
  assert.is(response.status, 200);
  return json<Json[]>(response);
}

/** Sends a request whose connection the emulator is set to drop, and returns the fetch error. */
async function sendDropped(method: string, path: string, body?: unknown): Promise<Error> {
  try {
    const reply = await send(method, path, { body });
    throw new Error(`expected a dropped connection, got status ${reply.status}`);
  } catch (error) {
    return error as Error;
  }
}

async function listSourceNames(query = '', emulator = context.emulator): Promise<string[]> {
  const token = emulator === context.emulator ? context.token : await tokenFor(emulator);
  const response = await send('GET', `/v2025/sources${query}`, { emulator, token });
  assert.is(response.status, 200);
  return json<Array<{ name: string }>>(response).map((source) => source.name);
}

function manySourcesFixture(count: number): EmulatorFixtures {
  return {
    sources: Array.from({ length: count }, (_, index) => ({ name: `Source ${index + 10}` })),
  };
}

test.before.each(async () => {
  context.emulator = await startEmulator({ asyncDelayMs });
  context.token = await tokenFor(context.emulator);
  context.others = [];
});

test.after.each(async () => {
  const emulators = [context.emulator, ...context.others];
  for (const emulator of emulators) await emulator.close();
  for (const emulator of emulators) {
    assert.equal(
      emulator.contractViolations,
      [],
      'the emulator sent responses that break the ISC contract',
    );
  }
});

test('call log records arrival time', async () => {
  const before = Date.now();
  assert.is((await send('GET', '/v2025/sources')).status, 200);
  const after = Date.now();
  const call = context.emulator.calls.find((entry) => entry.path === '/v2025/sources')!;
  assert.type(call.startedAt, 'number');
  assert.ok(call.startedAt >= before, 'startedAt is before the request was sent');
  assert.ok(call.startedAt <= after, 'startedAt is after the response arrived');
  assert.is(call.operationId, 'listSources');
  assert.is(call.fault, undefined);
});

test('rate limit 429 then success after Retry-After', async () => {
  await restartEmulator({ rateLimit: { requests: 2, windowMs: 1000 } });
  assert.is((await send('GET', '/v2025/sources')).status, 200);
  assert.is((await send('GET', '/v2025/sources')).status, 200);
  const limited = await send('GET', '/v2025/sources');
  assert.is(limited.status, 429);
  assert.equal(json(limited), { message: ' Rate Limit Exceeded ' });
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter >= 1, `Retry-After is ${retryAfter}, expected at least 1 second`);

  await sleep(retryAfter * 1000 + timerToleranceMs);
  assert.is((await send('GET', '/v2025/sources')).status, 200);
  const calls = context.emulator.calls.filter((call) => call.path === '/v2025/sources');
  const retryGapMs = calls[3]!.startedAt - calls[2]!.startedAt;
  assert.ok(retryGapMs >= retryAfter * 1000, `retry came ${retryGapMs} ms after the 429`);
});

test('rate limit covers token endpoint per client', async () => {
  const clients = [
    { clientId: 'first', clientSecret: 'first-secret' },
    { clientId: 'second', clientSecret: 'second-secret' },
  ];
  await restartEmulator({ clients, rateLimit: { requests: 2, windowMs: 10_000 } });
  const emulator = context.emulator;
  // restartEmulator already took one token for the first client.
  assert.is((await requestToken(emulator, clients[0])).status, 200);
  const limited = await requestToken(emulator, clients[0]);
  assert.is(limited.status, 429);
  assert.equal(json(limited), { message: ' Rate Limit Exceeded ' });
  assert.ok(Number(limited.headers.get('retry-after')) >= 1, 'Retry-After is missing');
  assert.is((await requestToken(emulator, clients[1])).status, 200, 'second client is limited');
  assert.is((await send('GET', '/v2025/sources')).status, 200, 'v2025 shares the token budget');

  const counts = emulator.rateLimitCounts();
  const tokenCount = counts.find(
    (count) => count.clientId === 'first' && count.family === 'oauth/token',
  );
  assert.equal(tokenCount, { clientId: 'first', family: 'oauth/token', admitted: 2, limited: 1 });
  const admin = await fetch(`${emulator.url}/__admin/rate-limit`).then((r) => r.json());
  assert.equal(admin, counts);
  const metrics = await emulator.metricsText();
  assert.match(
    metrics,
    'isc_emulator_rate_limited_total{client_id="first",family="oauth/token"} 1',
  );
});

test('injected statuses have gateway shapes', async () => {
  const cases = [
    {
      status: 429,
      contentType: 'application/json',
      body: /^\{"message":" Rate Limit Exceeded "\}$/,
    },
    { status: 500, contentType: 'application/json', body: /"detailCode":"500.0 Internal Fault"/ },
    { status: 502, contentType: 'text/html', body: /<h1>502 Bad Gateway<\/h1>/ },
    { status: 503, contentType: null, body: /^$/ },
    { status: 504, contentType: 'text/html', body: /<h1>504 Gateway Time-out<\/h1>/ },
  ] as const;
  for (const expected of cases) {
    context.emulator.setFaults({
      errors: [{ operation: 'listSources', status: expected.status, retryAfterSeconds: 3 }],
    });
    const reply = await send('GET', '/v2025/sources');
    assert.is(reply.status, expected.status);
    const contentType = reply.headers.get('content-type');
    if (expected.contentType === null) assert.is(contentType, null);
    else assert.match(contentType ?? '', expected.contentType);
    assert.match(reply.text, expected.body);
    const call = context.emulator.calls.at(-1)!;
    assert.is(call.status, expected.status);
    assert.is(call.fault, 'error');
  }
  const limited = context.emulator.calls.find((call) => call.status === 429);
  assert.ok(limited, 'the injected 429 is missing from the call log');
});

test('injected 429 carries Retry-After', async () => {
  context.emulator.setFaults({ errors: [{ status: 429, retryAfterSeconds: 7 }] });
  const reply = await send('GET', '/v2025/sources');
  assert.is(reply.status, 429);
  assert.is(reply.headers.get('retry-after'), '7');
});

test('fault selects by path and method', async () => {
  context.emulator.setFaults({ errors: [{ path: '/accounts/*', method: 'GET', status: 503 }] });
  assert.is((await send('GET', '/v2025/sources')).status, 200);
  assert.is((await send('GET', '/v2025/accounts')).status, 200, 'the pattern matched the list');
  assert.is((await send('GET', '/v2025/accounts/abc')).status, 503);
  assert.is((await send('GET', '/accounts/v1/abc')).status, 503, 'per-service path not matched');
  assert.is((await send('DELETE', '/v2025/accounts/abc')).status, 404);

  context.emulator.setFaults({ errors: [{ path: '/sources/**', status: 500 }] });
  assert.is((await send('GET', '/v2025/sources/abc/schemas')).status, 500);
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('latency fault delays responses', async () => {
  context.emulator.setFaults({
    latency: [{ operation: 'listSources', fixedMs: 120, jitterMs: 40 }],
  });
  assert.is((await send('GET', '/v2025/sources')).status, 200);
  assert.is((await send('GET', '/v2025/identities')).status, 200);
  const sources = context.emulator.calls.find((call) => call.operationId === 'listSources')!;
  const identities = context.emulator.calls.find((call) => call.operationId === 'listIdentities')!;
  assert.ok(
    sources.durationMs >= 120 - timerToleranceMs,
    `listSources took ${sources.durationMs} ms`,
  );
  assert.ok(identities.durationMs < 120, `listIdentities took ${identities.durationMs} ms`);
});

test('dropped before create leaves no account', async () => {
  const source = await createSource('Dropped');
  context.emulator.setFaults({ drops: [{ operation: 'createAccount', phase: 'before' }] });
  const error = await sendDropped(
    'POST',
    '/v2025/accounts',
    accountBody(String(source.id), 'SA-1'),
  );
  assert.instance(error, TypeError);
  const call = context.emulator.calls.at(-1)!;
  assert.is(call.status, 0);
  assert.is(call.fault, 'drop-before');

  context.emulator.clearFaults();
  await sleep(asyncDelayMs * 4);
  assert.equal(await findAccounts(String(source.id)), []);
  const creates = [...context.emulator.state.tasks.values()].filter(
    (task) => task.uniqueName === 'Account Create',
  );
  assert.is(creates.length, 0);
});

test('dropped after create keeps the account', async () => {
  const source = await createSource('Dropped');
  context.emulator.setFaults({ drops: [{ operation: 'createAccount', phase: 'after' }] });
  const error = await sendDropped(
    'POST',
    '/v2025/accounts',
    accountBody(String(source.id), 'SA-1'),
  );
  assert.instance(error, TypeError);
  const call = context.emulator.calls.at(-1)!;
  assert.is(call.status, 0);
  assert.is(call.fault, 'drop-after');

  context.emulator.clearFaults();
  const accounts = await eventually('the account', async () => {
    const found = await findAccounts(String(source.id));
    return found.length > 0 ? found : undefined;
  });
  assert.is(accounts.length, 1);
  assert.is(accounts[0]!.nativeIdentity, 'SA-1');
});

test('expired token fault gives 401 then new token works', async () => {
  context.emulator.setFaults({ expireTokens: 1 });
  const expired = await send('GET', '/v2025/sources');
  assert.is(expired.status, 401);
  assert.equal(json(expired), { error: 'JWT validation failed: JWT is expired' });
  assert.is((await send('GET', '/v2025/sources')).status, 401, 'the expired token worked again');
  assert.is(context.emulator.calls.at(-1)!.fault, 'expired-token');
  assert.is(context.emulator.faults().expireTokens, 0);

  context.token = await tokenFor(context.emulator);
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('expireTokens all rejects every token', async () => {
  context.emulator.setFaults({ expireTokens: 'all' });
  assert.is((await send('GET', '/v2025/sources')).status, 401);
  const fresh = await tokenFor(context.emulator);
  assert.is((await send('GET', '/v2025/sources', { token: fresh })).status, 401);
  context.emulator.clearFaults();
  const after = await tokenFor(context.emulator);
  assert.is((await send('GET', '/v2025/sources', { token: after })).status, 200);
});

test('token expires after tokenTtlSeconds', async () => {
  await restartEmulator({ tokenTtlSeconds: 1 });
  const issued = json<{ expires_in: number }>(await requestToken());
  assert.is(issued.expires_in, 1);
  await sleep(1100);
  const expired = await send('GET', '/v2025/sources');
  assert.is(expired.status, 401);
  assert.equal(json(expired), { error: 'JWT validation failed: JWT is expired' });
  context.token = await tokenFor(context.emulator);
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('slow task delays only its kind', async () => {
  const source = await createSource('Slow');
  context.emulator.setFaults({ taskDelayMs: { accountCreate: 400 } });
  const created = await send('POST', '/v2025/accounts', {
    body: accountBody(String(source.id), 'SA-1'),
  });
  assert.is(created.status, 202);
  const taskId = json<{ id: string }>(created).id;
  const task = await eventually('the slow task', async () => {
    const reply = json<{ completed: string | null; created: string }>(
      await send('GET', `/v2025/task-status/${taskId}`),
    );
    return reply.completed ? reply : undefined;
  });
  const tookMs = Date.parse(task.completed!) - Date.parse(task.created);
  assert.ok(tookMs >= 400 - timerToleranceMs, `the account create task took ${tookMs} ms`);

  const accountId = String((await findAccounts(String(source.id)))[0]!.id);
  const deleted = await send('DELETE', `/v2025/accounts/${accountId}`);
  const deleteTask = await eventually('the delete task', async () => {
    const reply = json<{ completed: string | null; created: string }>(
      await send('GET', `/v2025/task-status/${json<{ id: string }>(deleted).id}`),
    );
    return reply.completed ? reply : undefined;
  });
  const deleteMs = Date.parse(deleteTask.completed!) - Date.parse(deleteTask.created);
  assert.ok(deleteMs < 400, `the account delete task took ${deleteMs} ms`);
});

test('same seed gives same fault sequence', async () => {
  const faults: EmulatorFaults = {
    errors: [{ operation: 'listSources', status: 503, rate: 0.5 }],
    drops: [{ operation: 'getSource', phase: 'after', rate: 0.5 }],
  };
  async function statuses(seed: number): Promise<number[]> {
    const emulator = await startOther({ seed, faults });
    const token = await tokenFor(emulator);
    const sequence: number[] = [];
    for (let index = 0; index < 24; index++) {
      sequence.push((await send('GET', '/v2025/sources', { emulator, token })).status);
    }
    return sequence;
  }
  const first = await statuses(42);
  const second = await statuses(42);
  const other = await statuses(43);
  assert.equal(second, first);
  assert.ok(first.includes(200), 'no request succeeded');
  assert.ok(first.includes(503), 'no fault was injected');
  assert.not.equal(other, first, 'another seed gave the same sequence');
});

test('seed in setFaults restarts the sequence', async () => {
  const faults: EmulatorFaults = { seed: 9, errors: [{ status: 500, rate: 0.5 }] };
  const runs: number[][] = [];
  for (let run = 0; run < 2; run++) {
    context.emulator.setFaults(faults);
    const sequence: number[] = [];
    for (let index = 0; index < 16; index++) {
      sequence.push((await send('GET', '/v2025/identities')).status);
    }
    runs.push(sequence);
  }
  assert.equal(runs[1], runs[0]);
});

test('admin faults endpoint sets and clears', async () => {
  const url = `${context.emulator.url}/__admin/faults`;
  const configuration = { errors: [{ operation: 'listSources', status: 502 }], expireTokens: 0 };
  const put = await fetch(url, { method: 'PUT', body: JSON.stringify(configuration) });
  assert.is(put.status, 200);
  assert.equal(await put.json(), configuration);
  assert.equal(await fetch(url).then((r) => r.json()), configuration);
  assert.is((await send('GET', '/v2025/sources')).status, 502);

  const invalid = await fetch(url, { method: 'PUT', body: '{"errors":[{"status":418}]}' });
  assert.is(invalid.status, 400);
  const problem = (await invalid.json()) as { error: string };
  assert.match(problem.error, '/errors/0/status');
  assert.equal(context.emulator.faults(), configuration, 'an invalid PUT changed the faults');

  assert.is((await fetch(url, { method: 'DELETE' })).status, 204);
  assert.equal(await fetch(url).then((r) => r.json()), {});
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('startEmulator takes faults', async () => {
  await restartEmulator({ faults: { errors: [{ operation: 'listIdentities', status: 500 }] } });
  assert.is((await send('GET', '/v2025/identities')).status, 500);
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('lists without sorters are unordered', async () => {
  await restartEmulator({ seed: 5, fixtures: manySourcesFixture(8) });
  const orders = new Set<string>();
  for (let index = 0; index < 6; index++) orders.add((await listSourceNames()).join());
  assert.ok(orders.size > 1, 'six unsorted lists came in one order');

  const sorted = await listSourceNames('?sorters=name');
  const expected = Array.from({ length: 8 }, (_, index) => `Source ${index + 10}`);
  assert.equal(sorted, expected);
  assert.equal(await listSourceNames('?sorters=name'), sorted);
  assert.equal(await listSourceNames('?sorters=-name'), [...expected].reverse());
});

test('same seed gives same list order', async () => {
  const fixtures = manySourcesFixture(8);
  const first = await startOther({ seed: 11, fixtures });
  const second = await startOther({ seed: 11, fixtures });
  assert.equal(await listSourceNames('', second), await listSourceNames('', first));
});

test('insertion list order is stable', async () => {
  await restartEmulator({ listOrder: 'insertion', fixtures: manySourcesFixture(8) });
  const expected = Array.from({ length: 8 }, (_, index) => `Source ${index + 10}`);
  assert.equal(await listSourceNames(), expected);
  assert.equal(await listSourceNames(), expected);
});

test('list lag hides new objects from lists', async () => {
  await restartEmulator({ listLagMs: 300 });
  const source = await createSource('Lagging');
  const fetched = await send('GET', `/v2025/sources/${source.id}`);
  assert.is(fetched.status, 200);
  assert.not.ok((await listSourceNames()).includes('Lagging'), 'listed before the lag');
  await sleep(350);
  assert.ok((await listSourceNames()).includes('Lagging'), 'missing after the lag');
});

test('state file survives a restart', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'isc-emulator-'));
  const stateFile = join(directory, 'tenant.json');
  const clients = [{ clientId: 'demo', clientSecret: 'demo-secret' }];
  try {
    await restartEmulator({ stateFile, clients, asyncDelayMs: 500 });
    const adminIdentityId = context.emulator.adminIdentityId;
    const source = await createSource('Kept');
    const created = await send('POST', '/v2025/accounts', {
      body: accountBody(String(source.id), 'SA-1'),
    });
    assert.is(created.status, 202);
    // Closing before the 500 ms task delay: the pending create must still be saved.
    await restartEmulator({ stateFile, clients });

    assert.is(statSync(stateFile).mode & 0o777, 0o600);
    assert.is(context.emulator.adminIdentityId, adminIdentityId);
    assert.equal(await listSourceNames(), ['Kept']);
    const accounts = await findAccounts(String(source.id));
    assert.is(accounts.length, 1);
    assert.is(accounts[0]!.nativeIdentity, 'SA-1');
    const task = json<{ completionStatus: string }>(
      await send('GET', `/v2025/task-status/${json<{ id: string }>(created).id}`),
    );
    assert.is(task.completionStatus, 'SUCCESS');
  } finally {
    await context.emulator.close();
    context.emulator = await startEmulator({ asyncDelayMs });
    rmSync(directory, { recursive: true, force: true });
  }
});

test('fixtures preload sources and accounts', async () => {
  const fixtures: EmulatorFixtures = {
    identities: [
      { id: 'owner-1', alias: 'jdoe', email: 'jdoe@example.com', firstname: 'J', lastname: 'Doe' },
    ],
    sources: [{ id: 'source-1', name: 'Existing', accountAttributes: ['id', 'name', 'purpose'] }],
    accounts: [
      { source: 'Existing', attributes: { id: 'LEGACY-1', name: 'legacy1', purpose: 'batch' } },
      {
        source: 'source-1',
        attributes: { id: 'LEGACY-2', name: 'legacy2' },
        identityId: 'owner-1',
      },
    ],
  };
  await restartEmulator({ fixtures });
  const source = await send('GET', '/v2025/sources/source-1');
  assert.is(source.status, 200);
  assert.is(json(source).name, 'Existing');
  const accounts = await findAccounts('source-1');
  assert.equal(
    accounts.map((account) => account.nativeIdentity),
    ['LEGACY-1', 'LEGACY-2'],
  );
  assert.is(accounts[0]!.uncorrelated, true);
  assert.is(accounts[1]!.identityId, 'owner-1');
  assert.equal((accounts[0]!.attributes as Json).purpose, 'batch');
  const identity = await send('GET', '/v2025/identities/owner-1');
  assert.is(identity.status, 200);
});

test('invalid fixture is rejected', async () => {
  const fixtures: EmulatorFixtures = {
    sources: [{ name: 'Existing', accountAttributes: ['id', 'name'] }],
    accounts: [{ source: 'Existing', attributes: { id: 'X', owner: 'nobody' } }],
  };
  try {
    await startOther({ fixtures });
    assert.unreachable('the fixture with an unknown attribute was accepted');
  } catch (error) {
    assert.match((error as Error).message, 'attribute "owner"');
  }
});

test('metrics count requests and faults', async () => {
  await send('GET', '/v2025/sources');
  context.emulator.setFaults({ errors: [{ operation: 'listIdentities', status: 503 }] });
  await send('GET', '/v2025/identities');
  context.emulator.setFaults({ drops: [{ operation: 'getSource', phase: 'before' }] });
  await sendDropped('GET', '/v2025/sources/abc');

  const response = await fetch(`${context.emulator.url}/__admin/metrics`);
  assert.is(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', 'text/plain');
  const text = await response.text();
  assert.match(text, '# TYPE isc_emulator_requests_total counter');
  assert.match(
    text,
    'isc_emulator_requests_total{operation="listSources",method="GET",status="200"} 1',
  );
  assert.match(
    text,
    'isc_emulator_requests_total{operation="listIdentities",method="GET",status="503"} 1',
  );
  assert.match(
    text,
    'isc_emulator_requests_total{operation="getSource",method="GET",status="0"} 1',
  );
  assert.match(
    text,
    'isc_emulator_faults_injected_total{kind="error",operation="listIdentities"} 1',
  );
  assert.match(
    text,
    'isc_emulator_faults_injected_total{kind="drop-before",operation="getSource"} 1',
  );
});

test('metrics are per emulator instance', async () => {
  const other = await startOther({});
  await send('GET', '/v2025/sources');
  assert.not.match(await other.metricsText(), 'operation="listSources"');
});

test.run();
