/**
 * The ISC client against the emulator over real HTTP: token sharing, paging, filters with
 * hostile names, typed errors and both API path families.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import { IscApi } from '../../src/isc/api.ts';
import { type IscApiVersion, IscClient } from '../../src/isc/client.ts';
import { IscApiError, IscTaskTimeoutError } from '../../src/isc/errors.ts';
import type { Account, Source } from '../../src/isc/types.ts';

let emulator: RunningEmulator;
let logText = '';
const credential = { clientId: 'client-test', clientSecret: `secret-${crypto.randomUUID()}` };

const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logText += chunk.toString();
    done();
  },
});
const logger = pino({ level: 'debug' }, logSink);

function makeApi(apiVersion: IscApiVersion = 'v2025', secret = credential.clientSecret): IscApi {
  return new IscApi(
    new IscClient({
      baseUrl: emulator.url,
      clientId: credential.clientId,
      clientSecret: secret,
      apiVersion,
      rateLimit: 1_000,
      logger,
    }),
  );
}

test.before(async () => {
  emulator = await startEmulator({ clients: [credential], asyncDelayMs: 20 });
});

test.after(async () => {
  await emulator?.close();
});

async function owner(api: IscApi) {
  const identityId = (await api.client.tokenOwner()).identityId!;
  return { type: 'IDENTITY', id: identityId, name: (await api.getIdentityName(identityId))! };
}

test('concurrent callers share one token request', async () => {
  emulator.clearCalls();
  const api = makeApi();
  await Promise.all(Array.from({ length: 20 }, () => api.findSourceByName('none')));
  const tokenCalls = emulator.calls.filter((call) => call.path === '/oauth/token');
  assert.is(tokenCalls.length, 1);
});

test('wrong secret is an unauthorized error', async () => {
  const api = makeApi('v2025', 'wrong');
  try {
    await api.findSourceByName('x');
    assert.unreachable('a wrong secret was accepted');
  } catch (error) {
    assert.instance(error, IscApiError);
    assert.is((error as IscApiError).kind, 'unauthorized');
    assert.is((error as IscApiError).path, '/oauth/token');
  }
});

test('rejected credential carries its source', async () => {
  const api = new IscApi(
    new IscClient({
      baseUrl: emulator.url,
      clientId: credential.clientId,
      clientSecret: 'wrong',
      credential: 'Secret team-a/audit01-pat',
      logger,
    }),
  );
  const error = await api.findSourceByName('x').catch((caught: unknown) => caught);
  assert.instance(error, IscApiError);
  assert.is((error as IscApiError).kind, 'unauthorized');
  assert.is((error as IscApiError).credential, 'Secret team-a/audit01-pat');
  assert.not.match((error as IscApiError).message, 'wrong');
});

test('filter survives quotes and operators in names', async () => {
  const api = makeApi();
  const tricky = 'Service "Accounts" & #1 or name eq "x" 100%';
  const plain = 'Service Accounts & #1';
  for (const name of [tricky, plain]) {
    await api.createDelimitedFileSource({ name, description: 'test', owner: await owner(api) });
  }
  const found = await api.findSourceByName(tricky);
  assert.is(found?.name, tricky);
  assert.is((await api.findSourceByName(plain))?.name, plain);
  assert.is(await api.findSourceByName('Service'), undefined);
});

test('paging walks three pages without repeats', async () => {
  const api = makeApi();
  const source = (await api.createDelimitedFileSource({
    name: 'Paging',
    description: 'test',
    owner: await owner(api),
  })) as Source;
  const schema = (await api.getAccountSchema(source.id))!;
  await api.replaceSchema(source.id, {
    ...schema,
    attributes: schema.attributes.filter((a) => ['id', 'name', 'e-mail'].includes(a.name)),
  });
  const total = 2 * 250 + 17;
  for (let start = 0; start < total; start += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, total - start) }, (_, i) =>
        api.createAccount(source.id, {
          id: `P-${start + i}`,
          name: `paging-${start + i}`,
          'e-mail': `p${start + i}@example.com`,
        }),
      ),
    );
  }
  const seen: Account[] = [];
  for (let attempt = 0; attempt < 50 && seen.length < total; attempt++) {
    seen.length = 0;
    emulator.clearCalls();
    for await (const account of api.list<Account>('accounts', '', {
      filters: `sourceId eq "${source.id}"`,
      sorters: 'id',
    })) {
      seen.push(account);
    }
    if (seen.length < total) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.is(seen.length, total);
  assert.is(new Set(seen.map((account) => account.id)).size, total);
  const pages = emulator.calls.filter((call) => call.path === '/v2025/accounts');
  assert.is(pages.length, 3);
  assert.equal(
    pages.map((call) => call.query.offset),
    ['0', '250', '500'],
  );
  assert.ok(
    pages.every((call) => call.query.sorters === 'id'),
    'a page was requested unsorted',
  );
});

test('invalid body is a typed rejection', async () => {
  const api = makeApi();
  try {
    await api.client.request('POST', '/v2025/identity-profiles', { json: { description: 'x' } });
    assert.unreachable('an invalid profile was accepted');
  } catch (error) {
    assert.instance(error, IscApiError);
    const rejection = error as IscApiError;
    assert.is(rejection.status, 400);
    assert.is(rejection.kind, 'invalid-request');
    assert.is(rejection.detail.detailCode, '400.1 Bad Request Content');
    assert.type(rejection.detail.trackingId, 'string');
    assert.ok(rejection.detail.messages.length > 0, 'no message in the rejection');
  }
});

test('task polling waits for completion', async () => {
  const api = makeApi();
  const source = (await api.findSourceByName('Paging'))!;
  const { id: taskId } = await api.createAccount(source.id, {
    id: 'TASK-1',
    name: 'task-1',
    'e-mail': 'task@example.com',
  });
  assert.type(taskId, 'string');
  const task = await api.waitForTask(taskId!, { initialDelayMs: 5, deadlineMs: 5_000 });
  assert.is(task.completionStatus, 'SUCCESS');
  assert.ok(await api.findAccount(source.id, 'TASK-1'), 'account missing after its task completed');
});

test('task polling stops at its deadline', async () => {
  // A tenant whose tasks take a minute, so the deadline always comes first.
  const slow = await startEmulator({ clients: [credential], asyncDelayMs: 60_000 });
  try {
    const api = new IscApi(
      new IscClient({ baseUrl: slow.url, ...credential, rateLimit: 1_000, logger }),
    );
    const source = await api.createDelimitedFileSource({
      name: 'Slow',
      description: 'test',
      owner: await owner(api),
    });
    const { id: taskId } = await api.createAccount(source.id, {
      id: 'TASK-2',
      name: 'task-2',
      'e-mail': 'task2@example.com',
      givenName: 'x',
    });
    const started = Date.now();
    try {
      await api.waitForTask(taskId!, { initialDelayMs: 10, deadlineMs: 200 });
      assert.unreachable('the deadline did not apply');
    } catch (error) {
      assert.instance(error, IscTaskTimeoutError);
    }
    assert.ok(Date.now() - started < 5_000, 'polling went on far past its deadline');
  } finally {
    await slow.close();
  }
});

test('missing object reads as absent', async () => {
  const api = makeApi();
  assert.is(await api.getIdentity('0123456789abcdef0123456789abcdef'), undefined);
});

test('per-service paths reach the same tenant', async () => {
  const api = makeApi('per-service');
  emulator.clearCalls();
  const source = await api.findSourceByName('Paging');
  assert.ok(source, 'source not found through /sources/v1');
  const schema = await api.getAccountSchema(source!.id);
  assert.ok(schema, 'schema not found through /sources/v1');
  const paths = emulator.calls.map((call) => call.path);
  assert.ok(paths.includes('/sources/v1'), `paths: ${paths.join(', ')}`);
  assert.ok(paths.includes(`/sources/v1/${source!.id}/schemas`), `paths: ${paths.join(', ')}`);
});

test('403 drops the cached access token', async () => {
  const admin = makeApi();
  const pat = await admin.createPersonalAccessToken({
    name: `scoped-${crypto.randomUUID()}`,
    scopes: ['idn:sources:read'],
    accessTokenValiditySeconds: undefined,
    expirationDate: undefined,
  });
  const scoped = new IscApi(
    new IscClient({
      baseUrl: emulator.url,
      clientId: pat.id,
      clientSecret: pat.secret,
      rateLimit: 1_000,
      logger,
    }),
  );
  try {
    await scoped.findAccount('source-1', 'SA-1');
    assert.unreachable('a token without idn:accounts:read listed accounts');
  } catch (error) {
    assert.instance(error, IscApiError);
    assert.is((error as IscApiError).kind, 'forbidden');
  }
  // A person adds the scope; only an access token issued after that carries it.
  await admin.setPersonalAccessTokenScopes(pat.id, ['idn:accounts:read', 'idn:sources:read']);
  assert.is(await scoped.findAccount('source-1', 'SA-1'), undefined);
  await admin.deletePersonalAccessToken(pat.id);
});

test('client log holds no secret or token', () => {
  assert.ok(logText.length > 0, 'the client logged nothing');
  assert.not.ok(logText.includes(credential.clientSecret), 'client secret in the log');
  assert.not.match(logText, /Bearer\s+\S+/);
  assert.not.match(logText, /eyJ[A-Za-z0-9_-]{10,}\./);
});

test('emulator contract holds', () => {
  assert.equal(emulator.contractViolations, []);
});

test.run();
