import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CallRecord, type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';

// Each test gets a fresh emulator with a short async delay, and must leave no response that
// breaks SailPoint's published contract.

const asyncDelayMs = 30;
const serviceAccountAttributes = ['id', 'name', 'e-mail', 'purpose'];

/** A response with its parsed JSON body, typed by the caller as the fields the test reads. */
interface Response<Body = unknown> {
  status: number;
  headers: Headers;
  body: Body;
}

interface Named {
  id: string;
  name: string;
}

/** ErrorResponseDto, or the small `error` and `message` bodies of 401 and 429. */
interface ErrorBody {
  detailCode: string;
  trackingId: string;
  messages: Array<{ locale: string; localeOrigin: string; text: string }>;
  causes: unknown[];
  error: string;
  message: string;
}

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  identity_id: string;
  scope: string;
  /** Set instead of the others when the request is rejected. */
  error?: string;
}

interface SchemaBody extends Named {
  identityAttribute: string;
  displayAttribute: string;
  attributes: Array<{ name: string; type?: string }>;
}

interface SourceBody extends Named {
  type: string;
  connector: string;
  authoritative: boolean;
  description?: string;
  schemas: Named[];
}

interface AccountBody extends Named {
  nativeIdentity: string;
  sourceName: string;
  uncorrelated: boolean;
  identityId?: string;
  identity?: Named & { type: string };
  attributes: Record<string, string | undefined>;
}

interface IdentityBody extends Named {
  alias: string;
  emailAddress: string | null;
  identityStatus: string;
  attributes: Record<string, unknown>;
}

interface ProfileBody extends Named {
  identityRefreshRequired: boolean;
  identityCount: number;
}

interface TaskBody {
  id: string;
  completed: string | null;
  completionStatus: string | null;
  messages: Array<{ localizedText: { message: string } }>;
  attributes: Record<string, unknown>;
}

interface LoadAccountsBody {
  success: boolean;
  task: { id: string };
}

interface PatBody extends Named {
  secret?: string;
  owner: Named;
  expirationDate: string | null;
  scope: string[] | null;
}

interface AuthUserBody {
  uid: string;
  capabilities: string[];
}

interface Context {
  emulator: RunningEmulator;
  token: string;
}

const context = {} as Context;

async function send<Body = unknown>(
  method: string,
  path: string,
  options: { body?: unknown; contentType?: string; token?: string | null } = {},
): Promise<Response<Body>> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? context.token : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${context.emulator.url}${path}`, {
    method,
    headers,
    body: payload,
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as Body,
  };
}

async function requestToken(clientId: string, clientSecret: string): Promise<Response<TokenBody>> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  });
  return send<TokenBody>('POST', '/oauth/token', {
    body: form.toString(),
    contentType: 'application/x-www-form-urlencoded',
    token: null,
  });
}

function filterQuery(filter: string): string {
  return `filters=${encodeURIComponent(filter)}`;
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

async function createSource(name = 'Service Accounts'): Promise<SourceBody> {
  const response = await send<SourceBody>('POST', '/v2025/sources?provisionAsCsv=true', {
    body: {
      name,
      owner: { type: 'IDENTITY', id: context.emulator.adminIdentityId },
      connector: 'delimited-file-angularsc',
    },
  });
  assert.is(response.status, 201);
  return response.body;
}

/** Replaces the account schema with the service-account attributes: id, name, e-mail, purpose. */
async function useServiceAccountSchema(sourceId: string): Promise<SchemaBody> {
  const schemas = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${sourceId}/schemas?include-names=account`,
  );
  const schema = schemas.body[0]!;
  const replaced = await send<SchemaBody>(
    'PUT',
    `/v2025/sources/${sourceId}/schemas/${schema.id}`,
    {
      body: {
        ...schema,
        attributes: serviceAccountAttributes.map((name) => ({
          name,
          type: 'STRING',
          isMulti: false,
          isEntitlement: false,
          isGroup: false,
        })),
      },
    },
  );
  assert.is(replaced.status, 200);
  return replaced.body;
}

async function findAccount(
  sourceId: string,
  nativeIdentity: string,
): Promise<AccountBody | undefined> {
  const filter = `sourceId eq "${sourceId}" and nativeIdentity eq "${nativeIdentity}"`;
  const response = await send<AccountBody[]>('GET', `/v2025/accounts?${filterQuery(filter)}`);
  assert.is(response.status, 200);
  return response.body[0];
}

async function createAccount(sourceId: string, id: string, name: string): Promise<AccountBody> {
  const response = await send('POST', '/v2025/accounts', {
    body: {
      attributes: { sourceId, id, name, 'e-mail': `${name}@example.com`, purpose: 'testing' },
    },
  });
  assert.is(response.status, 202);
  return eventually(`account ${id}`, () => findAccount(sourceId, id));
}

function mapping(identityAttributeName: string, attributeName: string, source: SourceBody) {
  return {
    identityAttributeName,
    transformDefinition: {
      type: 'accountAttribute',
      attributes: { sourceName: source.name, attributeName, sourceId: source.id },
    },
  };
}

async function uploadAccounts(
  sourceId: string,
  csv: string,
  disableOptimization = 'false',
): Promise<Response<LoadAccountsBody>> {
  const form = new FormData();
  form.append('file', new Blob([csv], { type: 'text/csv' }), 'accounts.csv');
  form.append('disableOptimization', disableOptimization);
  const response = await fetch(`${context.emulator.url}/v2025/sources/${sourceId}/load-accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${context.token}` },
    body: form,
  });
  const body = (await response.json()) as LoadAccountsBody;
  return { status: response.status, headers: response.headers, body };
}

async function finishedTask(taskId: string): Promise<TaskBody> {
  return eventually(`task ${taskId}`, async () => {
    const task = await send<TaskBody>('GET', `/v2025/task-status/${taskId}`);
    return task.body.completed ? task.body : undefined;
  });
}

/** Replaces the test's emulator with one started with `options`, and takes a new token. */
async function restartEmulator(options: Parameters<typeof startEmulator>[0]): Promise<void> {
  await context.emulator.close();
  context.emulator = await startEmulator(options);
  const client = context.emulator.clients[0]!;
  context.token = (await requestToken(client.clientId, client.clientSecret)).body.access_token;
}

test.before.each(async () => {
  context.emulator = await startEmulator({ asyncDelayMs });
  const client = context.emulator.clients[0]!;
  const token = await requestToken(client.clientId, client.clientSecret);
  context.token = token.body.access_token;
});

test.after.each(async () => {
  const violations = context.emulator.contractViolations;
  await context.emulator.close();
  assert.equal(violations, [], 'the emulator sent responses that break the ISC contract');
});

test('token request returns a bearer token', async () => {
  const client = context.emulator.clients[0]!;
  const response = await requestToken(client.clientId, client.clientSecret);
  assert.is(response.status, 200);
  assert.is(response.body.token_type, 'bearer');
  assert.is(response.body.expires_in, 43200);
  assert.is(response.body.identity_id, context.emulator.adminIdentityId);
  assert.type(response.body.access_token, 'string');
  assert.is(
    (await send('GET', '/v2025/sources', { token: response.body.access_token })).status,
    200,
  );
});

test('token request takes query parameters', async () => {
  const client = context.emulator.clients[0]!;
  const query = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  const response = await send<TokenBody>('POST', `/oauth/token?${query}`, { token: null });
  assert.is(response.status, 200);
  const logged = JSON.stringify(context.emulator.calls);
  assert.not.ok(logged.includes(client.clientSecret), 'the call log contains the client secret');
  assert.not.ok(logged.includes(response.body.access_token), 'the call log contains the token');
});

test('token request with wrong secret is 401', async () => {
  const response = await requestToken(context.emulator.clients[0]!.clientId, 'wrong');
  assert.is(response.status, 401);
  assert.type(response.body.error, 'string');
});

test('missing or forged token is 401', async () => {
  const missing = await send<ErrorBody>('GET', '/v2025/sources', { token: null });
  assert.is(missing.status, 401);
  assert.match(missing.body.error, /^JWT validation failed: /);
  const forged = await send<ErrorBody>('GET', '/v2025/sources', {
    token: `${context.token.slice(0, -4)}AAAA`,
  });
  assert.is(forged.status, 401);
  assert.match(forged.body.error, /^JWT validation failed: /);
});

test('copied account attributes create an account', async () => {
  const created = await createSource();
  await useServiceAccountSchema(created.id);
  await createAccount(created.id, 'SA-001', 'audit01');

  const sources = await send<SourceBody[]>(
    'GET',
    `/v2025/sources?${filterQuery('name eq "Service Accounts"')}`,
  );
  assert.is(sources.status, 200);
  assert.is(sources.body.length, 1);
  const sourceId = sources.body[0]!.id;

  const accounts = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${filterQuery(`sourceId eq "${sourceId}"`)}`,
  );
  assert.is(accounts.status, 200);
  assert.is(accounts.body.length, 1);
  const attributes = { ...accounts.body[0]!.attributes };
  assert.type(attributes.idNowDescription, 'string');

  delete attributes.idNowDescription;
  const body = { attributes: { ...attributes, sourceId, id: 'SA-002', name: 'audit02' } };
  const response = await send<Named>('POST', '/v2025/accounts', { body });
  assert.is(response.status, 202);
  assert.type(response.body.id, 'string');

  const account = await eventually('account SA-002', () => findAccount(sourceId, 'SA-002'));
  assert.is(account.name, 'audit02');
  assert.is(account.attributes['e-mail'], 'audit01@example.com');
});

test('account create rejects unknown attribute', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const response = await send<ErrorBody>('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, id: 'SA-001', idNowDescription: 'abc' } },
  });
  assert.is(response.status, 400);
  assert.match(response.body.messages[0]?.text ?? '', 'idNowDescription');
});

test('account create without identity attribute is 400', async () => {
  const source = await createSource();
  const response = await send<ErrorBody>('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, name: 'audit01' } },
  });
  assert.is(response.status, 400);
  assert.match(response.body.messages[0]?.text ?? '', '"id"');
});

test('new source has default schemas', async () => {
  const source = await createSource();
  assert.is(source.type, 'DelimitedFile');
  assert.is(source.connector, 'delimited-file-angularsc');
  assert.is(source.authoritative, false);
  assert.equal(
    source.schemas.map((schema) => schema.name),
    ['account', 'group'],
  );

  const schemas = await send<SchemaBody[]>('GET', `/v2025/sources/${source.id}/schemas`);
  assert.is(schemas.status, 200);
  const account = schemas.body.find((schema) => schema.name === 'account')!;
  assert.is(account.identityAttribute, 'id');
  assert.is(account.displayAttribute, 'name');
  assert.equal(
    account.attributes.map((attribute) => attribute.name),
    [
      'id',
      'name',
      'givenName',
      'familyName',
      'e-mail',
      'location',
      'manager',
      'groups',
      'startDate',
      'endDate',
    ],
  );
  assert.ok(account.attributes.every((attribute) => attribute.type === 'STRING'));

  const onlyAccount = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${source.id}/schemas?include-names=account`,
  );
  assert.equal(
    onlyAccount.body.map((schema) => schema.name),
    ['account'],
  );
});

test('schema PUT replaces the schema', async () => {
  const source = await createSource();
  const replaced = await useServiceAccountSchema(source.id);
  assert.equal(
    replaced.attributes.map((attribute) => attribute.name),
    serviceAccountAttributes,
  );

  const fetched = await send<SchemaBody>(
    'GET',
    `/v2025/sources/${source.id}/schemas/${replaced.id}`,
  );
  assert.equal(
    fetched.body.attributes.map((attribute) => attribute.name),
    serviceAccountAttributes,
  );

  const { id: _id, ...withoutId } = replaced;
  const missingId = await send('PUT', `/v2025/sources/${source.id}/schemas/${replaced.id}`, {
    body: withoutId,
  });
  assert.is(missingId.status, 400);
  const renamed = await send('PUT', `/v2025/sources/${source.id}/schemas/${replaced.id}`, {
    body: { ...replaced, name: 'other' },
  });
  assert.is(renamed.status, 400);
});

test('schema PATCH adds an attribute', async () => {
  const source = await createSource();
  const schemas = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${source.id}/schemas?include-names=account`,
  );
  const schemaId = schemas.body[0]!.id;
  const response = await send<SchemaBody>(
    'PATCH',
    `/v2025/sources/${source.id}/schemas/${schemaId}`,
    {
      body: [{ op: 'add', path: '/attributes/-', value: { name: 'purpose', type: 'STRING' } }],
      contentType: 'application/json-patch+json',
    },
  );
  assert.is(response.status, 200);
  assert.is(response.body.attributes.at(-1)?.name, 'purpose');
});

test('PATCH with JSON content type is 415', async () => {
  const source = await createSource();
  const schemas = await send<SchemaBody[]>(
    'GET',
    `/v2025/sources/${source.id}/schemas?include-names=account`,
  );
  const patch = [{ op: 'add', path: '/attributes/-', value: { name: 'purpose', type: 'STRING' } }];
  const schemaPatch = await send(
    'PATCH',
    `/v2025/sources/${source.id}/schemas/${schemas.body[0]!.id}`,
    {
      body: patch,
    },
  );
  assert.is(schemaPatch.status, 415);

  const profile = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: { name: 'Service Accounts', authoritativeSource: { type: 'SOURCE', id: source.id } },
  });
  const profilePatch = await send('PATCH', `/v2025/identity-profiles/${profile.body.id}`, {
    body: [{ op: 'replace', path: '/description', value: 'x' }],
  });
  assert.is(profilePatch.status, 415);
});

test('invalid body is 400 with ISC error shape', async () => {
  const response = await send<ErrorBody>('POST', '/v2025/sources?provisionAsCsv=true', {
    body: { name: 'Service Accounts', connector: 'delimited-file-angularsc' },
  });
  assert.is(response.status, 400);
  assert.equal(Object.keys(response.body).sort(), [
    'causes',
    'detailCode',
    'messages',
    'trackingId',
  ]);
  assert.is(response.body.detailCode, '400.1 Bad Request Content');
  assert.type(response.body.trackingId, 'string');
  assert.equal(response.body.causes, []);
  assert.is(response.body.messages[0]?.locale, 'en-US');
  assert.is(response.body.messages[0]?.localeOrigin, 'DEFAULT');
  assert.match(response.body.messages[0]?.text ?? '', 'owner');

  const malformed = await send<ErrorBody>('POST', '/v2025/accounts', { body: '{"attributes":' });
  assert.is(malformed.status, 400);
  assert.is(malformed.body.detailCode, '400.1 Bad Request Content');
});

test('account appears after the async delay', async () => {
  // A longer delay keeps the first lookup ahead of the task on a slow machine.
  await restartEmulator({ asyncDelayMs: 500 });
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const response = await send<Named>('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, id: 'SA-001', name: 'audit01' } },
  });
  assert.is(response.status, 202);
  assert.is(await findAccount(source.id, 'SA-001'), undefined);

  const account = await eventually('account SA-001', () => findAccount(source.id, 'SA-001'));
  assert.is(account.nativeIdentity, 'SA-001');
  assert.is(account.name, 'audit01');
  assert.is(account.sourceName, 'Service Accounts');
  assert.is(account.uncorrelated, true);
  const fetched = await send<AccountBody>('GET', `/v2025/accounts/${account.id}`);
  assert.is(fetched.status, 200);
  assert.is(fetched.body.id, account.id);

  const task = await send<TaskBody>('GET', `/v2025/task-status/${response.body.id}`);
  assert.is(task.status, 200);
  assert.is(task.body.completionStatus, 'SUCCESS');
});

test('account create with existing id updates', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');
  const response = await send('POST', '/v2025/accounts', {
    body: { attributes: { sourceId: source.id, id: 'SA-001', purpose: 'changed' } },
  });
  assert.is(response.status, 202);
  const updated = await eventually('purpose update', async () => {
    const current = await findAccount(source.id, 'SA-001');
    return current?.attributes.purpose === 'changed' ? current : undefined;
  });
  assert.is(updated.id, account.id);
  assert.is(updated.name, 'audit01');
});

test('account PUT and DELETE are asynchronous', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');

  const put = await send('PUT', `/v2025/accounts/${account.id}`, {
    body: { attributes: { id: 'SA-001', name: 'audit01', purpose: 'replaced' } },
  });
  assert.is(put.status, 202);
  await eventually('PUT result', async () => {
    const current = await findAccount(source.id, 'SA-001');
    return current?.attributes.purpose === 'replaced' && current.attributes['e-mail'] === undefined
      ? current
      : undefined;
  });

  const removed = await send<Named>('DELETE', `/v2025/accounts/${account.id}`);
  assert.is(removed.status, 202);
  assert.type(removed.body.id, 'string');
  await eventually('account removal', async () =>
    (await send('GET', `/v2025/accounts/${account.id}`)).status === 404 ? true : undefined,
  );
});

test('process-identities builds identities from mappings', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');

  const created = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: {
      name: 'Service Accounts',
      authoritativeSource: { type: 'SOURCE', id: source.id, name: source.name },
      identityAttributeConfig: {
        enabled: true,
        attributeTransforms: [
          mapping('uid', 'name', source),
          mapping('email', 'e-mail', source),
          mapping('lastname', 'name', source),
          mapping('firstname', 'name', source),
        ],
      },
    },
  });
  assert.is(created.status, 201);
  const profileId = created.body.id;
  assert.is(
    (await send<SourceBody>('GET', `/v2025/sources/${source.id}`)).body.authoritative,
    true,
  );

  const processed = await send('POST', `/v2025/identity-profiles/${profileId}/process-identities`);
  assert.is(processed.status, 202);

  const identity = await eventually('identity audit01', async () => {
    const response = await send<IdentityBody[]>(
      'GET',
      `/v2025/identities?${filterQuery('alias eq "audit01"')}`,
    );
    return response.body[0];
  });
  assert.is(identity.name, 'audit01');
  assert.is(identity.emailAddress, 'audit01@example.com');
  assert.is(identity.identityStatus, 'UNREGISTERED');
  assert.is(identity.attributes.uid, 'audit01');
  assert.is(identity.attributes.email, 'audit01@example.com');
  assert.is(identity.attributes.firstname, 'audit01');
  assert.is(identity.attributes.lastname, 'audit01');
  assert.is(identity.attributes.cloudStatus, 'UNREGISTERED');

  const correlated = (await send<AccountBody>('GET', `/v2025/accounts/${account.id}`)).body;
  assert.is(correlated.identityId, identity.id);
  assert.equal(correlated.identity, { id: identity.id, type: 'IDENTITY', name: 'audit01' });
  assert.is(correlated.uncorrelated, false);

  const profile = (await send<ProfileBody>('GET', `/v2025/identity-profiles/${profileId}`)).body;
  assert.is(profile.identityRefreshRequired, false);
  assert.is(profile.identityCount, 1);

  const patched = await send<ProfileBody>('PATCH', `/v2025/identity-profiles/${profileId}`, {
    body: [
      {
        op: 'add',
        path: '/identityAttributeConfig/attributeTransforms/-',
        value: mapping('displayName', 'purpose', source),
      },
    ],
    contentType: 'application/json-patch+json',
  });
  assert.is(patched.status, 200);
  assert.is(patched.body.identityRefreshRequired, true);
});

test('identity profile delete clears authoritative', async () => {
  const source = await createSource();
  const created = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: { name: 'Service Accounts', authoritativeSource: { type: 'SOURCE', id: source.id } },
  });
  const removed = await send('DELETE', `/v2025/identity-profiles/${created.body.id}`);
  assert.is(removed.status, 202);
  await eventually('source no longer authoritative', async () => {
    const current = await send<SourceBody>('GET', `/v2025/sources/${source.id}`);
    return current.body.authoritative === false ? true : undefined;
  });
  const gone = await send('GET', `/v2025/identity-profiles/${created.body.id}`);
  assert.is(gone.status, 404);
});

test('seeded admin identity is listed', async () => {
  const adminId = context.emulator.adminIdentityId;
  const listed = await send<IdentityBody[]>(
    'GET',
    `/v2025/identities?${filterQuery(`id eq "${adminId}"`)}`,
  );
  assert.is(listed.status, 200);
  assert.is(listed.body.length, 1);
  const fetched = await send<IdentityBody>('GET', `/v2025/identities/${adminId}`);
  assert.is(fetched.body.alias, 'admin');
});

test('accounts paginate across three pages', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  for (let index = 1; index <= 7; index++) {
    const body = {
      attributes: { sourceId: source.id, id: `SA-00${index}`, name: `audit0${index}` },
    };
    assert.is((await send('POST', '/v2025/accounts', { body })).status, 202);
  }
  const sourceFilter = filterQuery(`sourceId eq "${source.id}"`);
  await eventually('seven accounts', async () => {
    const response = await send<AccountBody[]>('GET', `/v2025/accounts?${sourceFilter}`);
    return response.body.length === 7 ? true : undefined;
  });

  const seen: string[] = [];
  const sizes: number[] = [];
  for (const offset of [0, 3, 6]) {
    const page = await send<AccountBody[]>(
      'GET',
      `/v2025/accounts?${sourceFilter}&limit=3&offset=${offset}&count=true&sorters=name`,
    );
    assert.is(page.status, 200);
    assert.is(page.headers.get('x-total-count'), '7');
    sizes.push(page.body.length);
    seen.push(...page.body.map((account) => account.name));
  }
  assert.equal(sizes, [3, 3, 1]);
  assert.equal(seen, ['audit01', 'audit02', 'audit03', 'audit04', 'audit05', 'audit06', 'audit07']);

  const descending = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${sourceFilter}&limit=1&sorters=-name`,
  );
  assert.is(descending.body[0]?.name, 'audit07');
  const noCount = await send('GET', `/v2025/accounts?${sourceFilter}&limit=3`);
  assert.is(noCount.headers.get('x-total-count'), null);
  const tooLarge = await send('GET', '/v2025/accounts?limit=251');
  assert.is(tooLarge.status, 400);
});

test('unsupported filter or sorter is 400', async () => {
  const unsupported = await send<ErrorBody>(
    'GET',
    `/v2025/accounts?${filterQuery('purpose eq "x"')}`,
  );
  assert.is(unsupported.status, 400);
  assert.match(unsupported.body.messages[0]?.text ?? '', 'purpose');
  const malformed = await send('GET', `/v2025/accounts?${filterQuery('sourceId EQ "x"')}`);
  assert.is(malformed.status, 400);
  const sorter = await send('GET', '/v2025/sources?sorters=purpose');
  assert.is(sorter.status, 400);
});

test('per-service paths reach the same data', async () => {
  const source = await createSource();
  const listed = await send<SourceBody[]>('GET', '/sources/v1');
  assert.is(listed.status, 200);
  assert.is(listed.body[0]?.id, source.id);
  const fetched = await send<SourceBody>('GET', `/sources/v1/${source.id}`);
  assert.is(fetched.body.name, 'Service Accounts');
  assert.is((await send('GET', '/v3/sources')).status, 404);
});

test('admin endpoints expose calls and state', async () => {
  await createSource();
  const calls = (await fetch(`${context.emulator.url}/__admin/calls`).then((r) =>
    r.json(),
  )) as CallRecord[];
  assert.ok(calls.some((call) => call.path === '/v2025/sources' && call.status === 201));
  assert.is(calls.at(-1)?.clientId, context.emulator.clients[0]!.clientId);
  const state = (await fetch(`${context.emulator.url}/__admin/state`).then((r) => r.json())) as {
    sources: SourceBody[];
  };
  assert.is(state.sources.length, 1);
  const cleared = await fetch(`${context.emulator.url}/__admin/calls`, { method: 'DELETE' });
  assert.is(cleared.status, 204);
  assert.is(context.emulator.calls.length, 0);
});

test('source PUT keeps immutable fields', async () => {
  const source = await createSource();
  const renamed = await send<SourceBody>('PUT', `/v2025/sources/${source.id}`, {
    body: { ...source, description: 'Service accounts managed by the operator' },
  });
  assert.is(renamed.status, 200);
  assert.is(renamed.body.description, 'Service accounts managed by the operator');
  const changed = await send<ErrorBody>('PUT', `/v2025/sources/${source.id}`, {
    body: { ...source, connector: 'active-directory' },
  });
  assert.is(changed.status, 400);
  assert.is(changed.body.detailCode, '400.1.1 Illegal update attempt');
});

test('account schema downloads as CSV', async () => {
  const source = await createSource();
  const response = await fetch(
    `${context.emulator.url}/v2025/sources/${source.id}/schemas/accounts`,
    {
      headers: { authorization: `Bearer ${context.token}` },
    },
  );
  assert.is(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/csv/);
  assert.is(
    await response.text(),
    'id,name,givenName,familyName,e-mail,location,manager,groups,startDate,endDate\n',
  );
});

test('load-accounts aggregates a CSV file', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const csv = [
    'id,name,e-mail,purpose',
    'SA-001,audit01,audit01@example.com,"Monthly audit, report"',
    'SA-002,audit02,audit02@example.com,"Says ""hi""\r\nand\nmore"',
    ',no-id,,',
  ].join('\n');
  const upload = await uploadAccounts(source.id, csv);
  assert.is(upload.status, 202);
  assert.is(upload.body.success, true);
  const task = await finishedTask(upload.body.task.id);
  assert.is(task.completionStatus, 'SUCCESS');
  assert.is(task.attributes.created, 2);
  assert.is(task.attributes.ignored, 1);

  const first = await findAccount(source.id, 'SA-001');
  assert.is(first?.attributes.purpose, 'Monthly audit, report');
  const second = await findAccount(source.id, 'SA-002');
  assert.is(second?.attributes.purpose, 'Says "hi"\r\nand\nmore');
});

test('load-accounts rejects mismatched files', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const cases: Array<[string, string, string]> = [
    ['email in place of e-mail', 'id,name,email,purpose\nSA-001,a,,\n', 'unknown columns: email'],
    ['columns reordered', 'name,id,e-mail,purpose\na,SA-001,,\n', 'different order'],
    ['column missing', 'id,name,e-mail\nSA-001,a,\n', 'missing columns: purpose'],
    ['extra column', 'id,name,e-mail,purpose,x\nSA-001,a,,,\n', 'unknown columns: x'],
    ['short record', 'id,name,e-mail,purpose\nSA-001,a,\n', 'CSV record 2 has 3 fields'],
    ['stray quote', 'id,name,e-mail,purpose\nSA-001,a"b,,\n', 'quote inside an unquoted field'],
    ['open quote', 'id,name,e-mail,purpose\nSA-001,"a,,\n', 'unterminated quoted field'],
    ['empty file', '', 'no header row'],
  ];
  for (const [name, csv, reason] of cases) {
    const upload = await uploadAccounts(source.id, csv);
    assert.is(upload.status, 202, name);
    const task = await finishedTask(upload.body.task.id);
    assert.is(task.completionStatus, 'ERROR', name);
    assert.match(task.messages[0]?.localizedText.message ?? '', reason, name);
  }
  const accounts = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${filterQuery(`sourceId eq "${source.id}"`)}`,
  );
  assert.equal(accounts.body, [], 'a rejected file changed accounts');
});

test('load-accounts request errors', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const other = await send<SourceBody>('POST', '/v2025/sources', {
    body: {
      name: 'Directory',
      owner: { type: 'IDENTITY', id: context.emulator.adminIdentityId },
      connector: 'active-directory',
    },
  });
  assert.is(other.status, 201);
  const csv = 'id,name,e-mail,purpose\nSA-001,a,,\n';

  const badFlag = await uploadAccounts(source.id, csv, 'yes');
  assert.is(badFlag.status, 400);
  const notDelimited = await uploadAccounts(other.body.id, csv);
  assert.is(notDelimited.status, 400);

  const noFile = new FormData();
  noFile.append('disableOptimization', 'false');
  const missing = await fetch(`${context.emulator.url}/v2025/sources/${source.id}/load-accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${context.token}` },
    body: noFile,
  });
  assert.is(missing.status, 400);
  assert.match(((await missing.json()) as ErrorBody).messages[0]?.text ?? '', '"file"');

  const json = await send('POST', `/v2025/sources/${source.id}/load-accounts`, {
    body: { file: csv },
  });
  assert.is(json.status, 415);

  const schemaDownload = await send('GET', `/v2025/sources/${other.body.id}/schemas/accounts`);
  assert.is(schemaDownload.status, 400);
});

test('load-accounts removes API-created accounts', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  await send('PUT', `/v2025/sources/${source.id}`, { body: { ...source, deleteThreshold: 50 } });
  const header = 'id,name,e-mail,purpose';
  const rows = `${header}\nSA-001,audit01,,\nSA-002,audit02,,\n`;
  await finishedTask((await uploadAccounts(source.id, rows)).body.task.id);
  await createAccount(source.id, 'SA-003', 'audit03');

  const second = await uploadAccounts(source.id, rows);
  const task = await finishedTask(second.body.task.id);
  assert.is(task.completionStatus, 'SUCCESS');
  assert.is(task.attributes.deleted, 1);
  assert.is(task.attributes.optimized, 2);
  assert.is(await findAccount(source.id, 'SA-003'), undefined);
});

test('optimized aggregation skips unchanged rows', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const csv = 'id,name,e-mail,purpose\nSA-001,audit01,,from-file\n';
  const first = await uploadAccounts(source.id, csv);
  assert.is((await finishedTask(first.body.task.id)).attributes.created, 1);
  const account = (await findAccount(source.id, 'SA-001'))!;

  // A change through the API survives an upload of the same row while optimization is on.
  const put = await send('PUT', `/v2025/accounts/${account.id}`, {
    body: { attributes: { id: 'SA-001', name: 'audit01', purpose: 'from-api' } },
  });
  assert.is(put.status, 202);
  await eventually('API change', async () => {
    const current = await findAccount(source.id, 'SA-001');
    return current?.attributes.purpose === 'from-api' ? true : undefined;
  });
  const optimized = await uploadAccounts(source.id, csv);
  const optimizedTask = await finishedTask(optimized.body.task.id);
  assert.is(optimizedTask.attributes.optimized, 1);
  assert.is(optimizedTask.attributes.updated, 0);
  assert.is(optimizedTask.attributes.optimizedAggregation, 'enabled');
  assert.is((await findAccount(source.id, 'SA-001'))?.attributes.purpose, 'from-api');

  const full = await uploadAccounts(source.id, csv, 'true');
  const fullTask = await finishedTask(full.body.task.id);
  assert.is(fullTask.attributes.optimized, 0);
  assert.is(fullTask.attributes.updated, 1);
  assert.is(fullTask.attributes.optimizedAggregation, 'disabled');
  assert.is((await findAccount(source.id, 'SA-001'))?.attributes.purpose, 'from-file');

  const changed = await uploadAccounts(source.id, csv.replace('from-file', 'edited'));
  const changedTask = await finishedTask(changed.body.task.id);
  assert.is(changedTask.attributes.updated, 1);
  assert.is((await findAccount(source.id, 'SA-001'))?.attributes.purpose, 'edited');
});

test('load-accounts removes missing rows', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  await send('PUT', `/v2025/sources/${source.id}`, { body: { ...source, deleteThreshold: 50 } });
  const header = 'id,name,e-mail,purpose';
  const first = await uploadAccounts(source.id, `${header}\nSA-001,audit01,,\nSA-002,audit02,,\n`);
  await finishedTask(first.body.task.id);

  const second = await uploadAccounts(source.id, `${header}\nSA-001,audit01,,changed\n`);
  const task = await finishedTask(second.body.task.id);
  assert.is(task.completionStatus, 'SUCCESS');
  assert.is(task.attributes.updated, 1);
  assert.is(task.attributes.deleted, 1);
  assert.is(await findAccount(source.id, 'SA-002'), undefined);
});

test('load-accounts applies delete threshold', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const header = 'id,name,e-mail,purpose';
  const first = await uploadAccounts(source.id, `${header}\nSA-001,audit01,,\nSA-002,audit02,,\n`);
  await finishedTask(first.body.task.id);

  const emptied = await uploadAccounts(source.id, `${header}\n`);
  const task = await finishedTask(emptied.body.task.id);
  assert.is(task.completionStatus, 'WARNING');
  assert.match(task.messages[0]?.localizedText.message ?? '', 'delete threshold');
  assert.ok(await findAccount(source.id, 'SA-002'), 'the delete phase removed an account');
});

test('concurrent load-accounts fails second task', async () => {
  // A longer delay keeps the second upload ahead of the first task on a slow machine.
  await restartEmulator({ asyncDelayMs: 500 });
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const csv = 'id,name,e-mail,purpose\nSA-001,audit01,,\n';
  const first = await uploadAccounts(source.id, csv);
  const second = await uploadAccounts(source.id, csv);
  assert.is(second.status, 202);
  assert.is((await finishedTask(first.body.task.id)).completionStatus, 'SUCCESS');
  const failed = await finishedTask(second.body.task.id);
  assert.is(failed.completionStatus, 'ERROR');
  assert.match(failed.messages[0]?.localizedText.message ?? '', 'currently running aggregation');
});

test('rate limit sends 429 with Retry-After', async () => {
  await restartEmulator({ asyncDelayMs, rateLimit: { requests: 3, windowMs: 10_000 } });
  for (let index = 0; index < 3; index++) {
    assert.is((await send('GET', '/v2025/sources')).status, 200);
  }
  const limited = await send<ErrorBody>('GET', '/v2025/sources');
  assert.is(limited.status, 429);
  assert.is(limited.body.message, ' Rate Limit Exceeded ');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1, 'Retry-After is missing');
  // Each API version family has its own budget.
  assert.is((await send('GET', '/sources/v1')).status, 200);
});

/** Creates a service-account identity through the source, profile and processing steps. */
async function createServiceAccountIdentity(): Promise<IdentityBody> {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  await createAccount(source.id, 'SA-001', 'audit01');
  const profile = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: {
      name: 'Service Accounts',
      authoritativeSource: { type: 'SOURCE', id: source.id },
      identityAttributeConfig: {
        enabled: true,
        attributeTransforms: [mapping('uid', 'name', source), mapping('email', 'e-mail', source)],
      },
    },
  });
  await send('POST', `/v2025/identity-profiles/${profile.body.id}/process-identities`);
  return eventually('identity audit01', async () => {
    const response = await send<IdentityBody[]>(
      'GET',
      `/v2025/identities?${filterQuery('alias eq "audit01"')}`,
    );
    return response.body[0];
  });
}

test('personal access token works at once', async () => {
  const created = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'ci', userAwareTokenNeverExpires: true, accessTokenValiditySeconds: 600 },
  });
  assert.is(created.status, 200);
  assert.type(created.body.secret, 'string');
  assert.is(created.body.owner.id, context.emulator.adminIdentityId);
  assert.is(created.body.expirationDate, null);

  const token = await requestToken(created.body.id, created.body.secret!);
  assert.is(token.status, 200);
  assert.is(token.body.expires_in, 600);
  assert.is(token.body.identity_id, context.emulator.adminIdentityId);

  const listed = await send<PatBody[]>('GET', '/v2025/personal-access-tokens?owner-id=me');
  assert.ok(listed.body.some((entry) => entry.id === created.body.id));
  assert.ok(
    listed.body.every((entry) => entry.secret === undefined),
    'the list shows secrets',
  );

  const removed = await send('DELETE', `/v2025/personal-access-tokens/${created.body.id}`);
  assert.is(removed.status, 204);
  assert.is((await requestToken(created.body.id, created.body.secret!)).status, 401);
});

test('personal access token rules', async () => {
  const neverExpiring = await send('POST', '/v2025/personal-access-tokens', {
    body: { name: 'a' },
  });
  assert.is(neverExpiring.status, 400);
  const past = await send('POST', '/v2025/personal-access-tokens', {
    body: { name: 'b', expirationDate: '2020-01-01T00:00:00Z' },
  });
  assert.is(past.status, 400);
  const tooShort = await send<ErrorBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'c', userAwareTokenNeverExpires: true, accessTokenValiditySeconds: 5 },
  });
  assert.is(tooShort.status, 400);
  assert.match(tooShort.body.messages[0]?.text ?? '', 'accessTokenValiditySeconds');

  const body = { name: 'dup', userAwareTokenNeverExpires: true };
  assert.is((await send('POST', '/v2025/personal-access-tokens', { body })).status, 200);
  assert.is((await send('POST', '/v2025/personal-access-tokens', { body })).status, 400);
  // The seeded credential and "dup" count too, so eight more reach the limit of ten.
  for (let index = 0; index < 8; index++) {
    const next = { name: `pat-${index}`, userAwareTokenNeverExpires: true };
    assert.is((await send('POST', '/v2025/personal-access-tokens', { body: next })).status, 200);
  }
  const eleventh = await send('POST', '/v2025/personal-access-tokens', {
    body: { name: 'eleventh', userAwareTokenNeverExpires: true },
  });
  assert.is(eleventh.status, 400);
});

test('personal access token PATCH', async () => {
  const created = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'ci', userAwareTokenNeverExpires: true },
  });
  const renamed = await send<PatBody>('PATCH', `/v2025/personal-access-tokens/${created.body.id}`, {
    body: [{ op: 'replace', path: '/name', value: 'ci-renamed' }],
    contentType: 'application/json-patch+json',
  });
  assert.is(renamed.status, 200);
  assert.is(renamed.body.name, 'ci-renamed');
  const owner = await send('PATCH', `/v2025/personal-access-tokens/${created.body.id}`, {
    body: [{ op: 'replace', path: '/owner', value: { id: 'x' } }],
    contentType: 'application/json-patch+json',
  });
  assert.is(owner.status, 400);
});

test('service account mints its own token', async () => {
  const identity = await createServiceAccountIdentity();
  const user = await send<AuthUserBody>('GET', `/v2025/auth-users/${identity.id}`);
  assert.is(user.status, 200);
  assert.equal(user.body.capabilities, []);
  assert.is(user.body.uid, 'audit01');

  const raised = await send<AuthUserBody>('PATCH', `/v2025/auth-users/${identity.id}`, {
    body: [{ op: 'replace', path: '/capabilities', value: ['SOURCE_ADMIN'] }],
    contentType: 'application/json-patch+json',
  });
  assert.is(raised.status, 200);
  assert.equal(raised.body.capabilities, ['SOURCE_ADMIN']);
  const illegal = await send<ErrorBody>('PATCH', `/v2025/auth-users/${identity.id}`, {
    body: [{ op: 'replace', path: '/email', value: 'x@example.com' }],
    contentType: 'application/json-patch+json',
  });
  assert.is(illegal.status, 400);
  assert.is(illegal.body.detailCode, '400.1.1 Illegal update attempt');

  // The service account's first PAT, created as its user would after logging in.
  const ownerId = identity.id;
  const bootstrap = (await fetch(
    `${context.emulator.url}/__admin/identities/${ownerId}/personal-access-tokens?name=bootstrap`,
    { method: 'POST' },
  ).then((r) => r.json())) as { id: string; secret: string };
  const token = await requestToken(bootstrap.id, bootstrap.secret);
  assert.is(token.status, 200);
  assert.is(token.body.identity_id, ownerId);
  context.token = token.body.access_token;
  const minted = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'automation', scope: ['idn:accounts:read'], userAwareTokenNeverExpires: true },
  });
  assert.is(minted.status, 200);
  assert.is(minted.body.owner.id, ownerId);
  assert.equal(minted.body.scope, ['idn:accounts:read']);
});

test('invite needs experimental header', async () => {
  const identity = await createServiceAccountIdentity();
  const withoutHeader = await send('POST', '/v2025/identities/invite', {
    body: { ids: [identity.id], uninvited: false },
  });
  assert.is(withoutHeader.status, 400);

  const response = await fetch(`${context.emulator.url}/v2025/identities/invite`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${context.token}`,
      'content-type': 'application/json',
      'x-sailpoint-experimental': 'true',
    },
    body: JSON.stringify({ ids: [identity.id], uninvited: false }),
  });
  assert.is(response.status, 202);
  const task = (await response.json()) as Named;
  assert.is((await finishedTask(task.id)).completionStatus, 'SUCCESS');
  const state = (await fetch(`${context.emulator.url}/__admin/state`).then((r) => r.json())) as {
    identities: Array<{ identity: Named; invitedAt: string | null }>;
  };
  const record = state.identities.find((entry) => entry.identity.id === identity.id);
  assert.type(record?.invitedAt, 'string');

  const registered = await fetch(
    `${context.emulator.url}/__admin/identities/${identity.id}/register`,
    { method: 'POST' },
  );
  assert.is(registered.status, 204);
  const fetched = await send<IdentityBody>('GET', `/v2025/identities/${identity.id}`);
  assert.is(fetched.body.identityStatus, 'ACTIVE');
});

async function inviteIdentity(identityId: string): Promise<Response<Named>> {
  return fetch(`${context.emulator.url}/v2025/identities/invite`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${context.token}`,
      'content-type': 'application/json',
      'x-sailpoint-experimental': 'true',
    },
    body: JSON.stringify({ ids: [identityId], uninvited: false }),
  }).then(async (response) => ({
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Named,
  }));
}

/** Calls an admin endpoint and returns the status and JSON body, if any. */
async function admin<Body = unknown>(
  method: string,
  path: string,
  body?: unknown,
): Promise<Response<Body>> {
  const response = await fetch(`${context.emulator.url}/__admin/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as Body,
  };
}

/** Requests a new token for the default client and makes it the test's token. */
async function renewToken(): Promise<void> {
  const client = context.emulator.clients[0]!;
  context.token = (await requestToken(client.clientId, client.clientSecret)).body.access_token;
}

/** Creates a PAT of the caller with `scope` and returns a token issued for it. */
async function scopedToken(
  name: string,
  scope: string[],
): Promise<{ pat: PatBody; token: string }> {
  const created = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name, scope, userAwareTokenNeverExpires: true },
  });
  assert.is(created.status, 200);
  const token = await requestToken(created.body.id, created.body.secret!);
  assert.is(token.status, 200);
  assert.is(token.body.scope, scope.join(' '));
  return { pat: created.body, token: token.body.access_token };
}

test('mapping change waits for process-identities', async () => {
  const identity = await createServiceAccountIdentity();
  const profiles = await send<ProfileBody[]>('GET', '/v2025/identity-profiles');
  assert.is(profiles.status, 200);
  assert.is(profiles.body.length, 1);
  const profile = profiles.body[0]!;
  assert.is(profile.identityRefreshRequired, false);
  const source = (await send<SourceBody[]>('GET', '/v2025/sources')).body[0]!;

  const patched = await send<ProfileBody>('PATCH', `/v2025/identity-profiles/${profile.id}`, {
    body: [
      {
        op: 'add',
        path: '/identityAttributeConfig/attributeTransforms/-',
        value: mapping('lastname', 'purpose', source),
      },
    ],
    contentType: 'application/json-patch+json',
  });
  assert.is(patched.body.identityRefreshRequired, true);
  // An account change and some time do not apply the new mapping.
  await createAccount(source.id, 'SA-002', 'audit02');
  await sleep(asyncDelayMs * 3);
  const before = await send<IdentityBody>('GET', `/v2025/identities/${identity.id}`);
  assert.is(before.body.attributes.lastname, undefined);

  const processed = await send('POST', `/v2025/identity-profiles/${profile.id}/process-identities`);
  assert.is(processed.status, 202);
  const after = await eventually('lastname from purpose', async () => {
    const current = await send<IdentityBody>('GET', `/v2025/identities/${identity.id}`);
    return current.body.attributes.lastname === 'testing' ? current.body : undefined;
  });
  assert.is(after.identityStatus, 'UNREGISTERED');
  const refreshed = await send<ProfileBody>('GET', `/v2025/identity-profiles/${profile.id}`);
  assert.is(refreshed.body.identityRefreshRequired, false);
  assert.is(refreshed.body.identityCount, 2);
});

test('scoped token gets 403 without scope', async () => {
  const { token } = await scopedToken('reader', ['idn:sources:read', 'idn:accounts:read']);
  assert.is((await send('GET', '/v2025/sources', { token })).status, 200);
  assert.is((await send('GET', '/v2025/accounts', { token })).status, 200);
  const create = await send<ErrorBody>('POST', '/v2025/sources?provisionAsCsv=true', {
    token,
    body: {
      name: 'Service Accounts',
      owner: { type: 'IDENTITY', id: context.emulator.adminIdentityId },
      connector: 'delimited-file-angularsc',
    },
  });
  assert.is(create.status, 403);
  assert.is(create.body.detailCode, '403 Forbidden');
  assert.match(create.body.messages[0]?.text ?? '', 'idn:sources:manage');
  assert.is((await send('GET', '/v2025/identities', { token })).status, 403);
  assert.is((await send('GET', '/v2025/personal-access-tokens', { token })).status, 403);

  const { token: all } = await scopedToken('all', ['sp:scopes:all']);
  assert.is((await send('GET', '/v2025/identities', { token: all })).status, 200);
  // The default client has no scopes, which ISC treats as sp:scopes:all.
  assert.is((await send('GET', '/v2025/identities')).status, 200);
});

test('configured missing scope is 500', async () => {
  await restartEmulator({ asyncDelayMs, internalFaultOnMissingScope: ['listIdentities'] });
  const { token } = await scopedToken('reader', ['idn:sources:read']);
  const identities = await send<ErrorBody>('GET', '/v2025/identities', { token });
  assert.is(identities.status, 500);
  assert.is(identities.body.detailCode, '500.0 Internal Fault');
  assert.is((await send('GET', '/v2025/accounts', { token })).status, 403);
  assert.is((await send('GET', '/v2025/identities')).status, 200);
});

test('PAT scope change reaches new tokens late', async () => {
  const delayMs = 20 * 60 * 1000;
  await restartEmulator({ asyncDelayMs, patScopeDelayMs: delayMs });
  const { pat, token: before } = await scopedToken('ci', ['idn:sources:read']);
  const patched = await send<PatBody>('PATCH', `/v2025/personal-access-tokens/${pat.id}`, {
    body: [{ op: 'replace', path: '/scope', value: ['idn:accounts:read'] }],
    contentType: 'application/json-patch+json',
  });
  assert.is(patched.status, 200);
  assert.equal(patched.body.scope, ['idn:accounts:read']);

  const early = await requestToken(pat.id, pat.secret!);
  assert.is(early.body.scope, 'idn:sources:read');
  assert.is((await send('GET', '/v2025/accounts', { token: early.body.access_token })).status, 403);

  const advanced = await admin<{ now: string }>('POST', 'clock', { advanceMs: delayMs });
  assert.is(advanced.status, 200);
  const late = await requestToken(pat.id, pat.secret!);
  assert.is(late.body.scope, 'idn:accounts:read');
  assert.is((await send('GET', '/v2025/accounts', { token: late.body.access_token })).status, 200);
  assert.is((await send('GET', '/v2025/sources', { token: late.body.access_token })).status, 403);
  // A token issued before the change keeps its scopes.
  assert.is((await send('GET', '/v2025/sources', { token: before })).status, 200);
});

test('PAT scope change without delay applies at once', async () => {
  const { pat } = await scopedToken('ci', ['idn:sources:read']);
  const patched = await send('PATCH', `/v2025/personal-access-tokens/${pat.id}`, {
    body: [{ op: 'replace', path: '/scope', value: ['idn:accounts:read'] }],
    contentType: 'application/json-patch+json',
  });
  assert.is(patched.status, 200);
  assert.is((await requestToken(pat.id, pat.secret!)).body.scope, 'idn:accounts:read');
  const invalid = await send('PATCH', `/v2025/personal-access-tokens/${pat.id}`, {
    body: [{ op: 'replace', path: '/scope', value: 'idn:accounts:read' }],
    contentType: 'application/json-patch+json',
  });
  assert.is(invalid.status, 400);
});

test('invitation expires after seven days', async () => {
  const identity = await createServiceAccountIdentity();
  const uninvited = await admin<{ error: string }>('POST', `identities/${identity.id}/register`);
  assert.is(uninvited.status, 409);
  assert.match(uninvited.body.error, 'no invitation');

  const invited = await inviteIdentity(identity.id);
  assert.is(invited.status, 202);
  await finishedTask(invited.body.id);
  const sevenDaysMs = 7 * 24 * 60 * 60 * 1000;
  assert.is((await admin('POST', 'clock', { advanceMs: sevenDaysMs })).status, 200);
  // The 12-hour access token expired with the move, as it would on a real tenant.
  assert.is((await send('GET', '/v2025/sources')).status, 401);
  await renewToken();

  const expired = await admin<{ error: string }>('POST', `identities/${identity.id}/register`);
  assert.is(expired.status, 409);
  assert.match(expired.body.error, 'expired');
  const unregistered = await send<IdentityBody>('GET', `/v2025/identities/${identity.id}`);
  assert.is(unregistered.body.identityStatus, 'UNREGISTERED');
  assert.is(unregistered.body.attributes.cloudStatus, 'UNREGISTERED');

  const again = await inviteIdentity(identity.id);
  await finishedTask(again.body.id);
  assert.is((await admin('POST', 'clock', { advanceMs: sevenDaysMs - 60_000 })).status, 200);
  await renewToken();
  assert.is((await admin('POST', `identities/${identity.id}/register`)).status, 204);
  const registered = await send<IdentityBody>('GET', `/v2025/identities/${identity.id}`);
  assert.is(registered.body.identityStatus, 'ACTIVE');
});

test('admin lists issued secrets and tokens', async () => {
  const minted = await send<PatBody & { secret: string }>('POST', '/v2025/personal-access-tokens', {
    body: { name: `listed-${Date.now()}`, userAwareTokenNeverExpires: true },
  });
  assert.is(minted.status, 200);
  const token = await requestToken(minted.body.id, minted.body.secret);
  assert.is(token.status, 200);
  assert.is((await send('DELETE', `/v2025/personal-access-tokens/${minted.body.id}`)).status, 204);

  const issued = await admin<{ clientSecrets: string[]; accessTokens: string[] }>(
    'GET',
    'issued-secrets',
  );
  assert.is(issued.status, 200);
  assert.ok(issued.body.clientSecrets.includes(minted.body.secret), 'deleted PAT secret missing');
  assert.ok(issued.body.accessTokens.includes(token.body.access_token), 'access token missing');
  const state = JSON.stringify((await admin('GET', 'state')).body);
  assert.not.ok(state.includes(minted.body.secret), 'the state shows a PAT secret');
});

test('admin clock rejects invalid moves', async () => {
  const clock = await admin<{ now: string }>('GET', 'clock');
  assert.is(clock.status, 200);
  assert.ok(Math.abs(Date.parse(clock.body.now) - Date.now()) < 5000, 'the clock is not now');
  assert.is((await admin('POST', 'clock', { advanceMs: -1 })).status, 400);
  assert.is((await admin('POST', 'clock', { advanceMs: '1' })).status, 400);
  assert.is((await admin('POST', 'clock', {})).status, 400);
});

test('clock move expires tokens with 401', async () => {
  context.emulator.clock.advance(43200 * 1000);
  const expired = await send<ErrorBody>('GET', '/v2025/sources');
  assert.is(expired.status, 401);
  assert.is(expired.body.error, 'JWT validation failed: JWT is expired');
  await renewToken();
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('fault can send a bare detailMessage', async () => {
  context.emulator.setFaults({
    errors: [{ operation: 'listSources', status: 500, body: 'detail-message' }],
  });
  const response = await send<{ detailMessage: string }>('GET', '/v2025/sources');
  assert.is(response.status, 500);
  assert.equal(response.body, { detailMessage: '500 Internal Server Error' });
  context.emulator.clearFaults();
  assert.is((await send('GET', '/v2025/sources')).status, 200);
});

test('filter operators on each list', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  await createSource('Legacy Accounts');
  for (const [id, name] of [
    ['SA-001', 'audit01'],
    ['SA-002', 'audit02'],
    ['XB-003', 'backup03'],
  ] as const) {
    await createAccount(source.id, id, name);
  }
  await createServiceAccountIdentityFor(source);

  const cases: Array<[string, string, string[]]> = [
    ['/v2025/accounts', 'nativeIdentity eq "SA-001"', ['audit01']],
    ['/v2025/accounts', 'nativeIdentity in ("SA-001", "XB-003")', ['audit01', 'backup03']],
    ['/v2025/accounts', 'nativeIdentity sw "SA-"', ['audit01', 'audit02']],
    ['/v2025/accounts', 'name sw "audit" and nativeIdentity eq "SA-002"', ['audit02']],
    ['/v2025/accounts', 'name eq "audit01" or name eq "backup03"', ['audit01', 'backup03']],
    ['/v2025/accounts', 'not name sw "audit"', ['backup03']],
    ['/v2025/accounts', 'uncorrelated eq false', ['audit01', 'audit02', 'backup03']],
    ['/v2025/sources', 'name co "Legacy"', ['Legacy Accounts']],
    ['/v2025/sources', 'name ne "Legacy Accounts"', ['Service Accounts']],
    ['/v2025/sources', `id in ("${source.id}")`, ['Service Accounts']],
    ['/v2025/sources', 'authoritative eq true', ['Service Accounts']],
    ['/v2025/identity-profiles', 'name ge "Service Accounts"', ['Service Accounts']],
    ['/v2025/identity-profiles', 'name gt "Service Accounts"', []],
    ['/v2025/identity-profiles', 'name le "A"', []],
    ['/v2025/identity-profiles', 'priority ne 0', ['Service Accounts']],
    ['/v2025/identities', 'alias sw "audit"', ['audit01', 'audit02']],
    ['/v2025/identities', 'cloudStatus eq "UNREGISTERED"', ['audit01', 'audit02', 'backup03']],
    ['/v2025/personal-access-tokens', 'lastUsed isnull', ['emulator seed isc-emulator-admin']],
    ['/v2025/personal-access-tokens', 'lastUsed le "2020-01-01T00:00:00Z"', []],
  ];
  for (const [path, filter, expected] of cases) {
    const response = await send<Named[]>('GET', `${path}?${filterQuery(filter)}`);
    assert.is(response.status, 200, `${path} ${filter}`);
    assert.equal(response.body.map((item) => item.name).sort(), expected, `${path} ${filter}`);
  }

  const rejected: Array<[string, string, string]> = [
    ['/v2025/accounts', 'purpose eq "x"', 'purpose'],
    ['/v2025/accounts', 'name co "audit"', '"co"'],
    ['/v2025/sources', 'name gt "A"', '"gt"'],
    ['/v2025/identities', 'emailAddress eq "x"', 'emailAddress'],
    ['/v2025/identity-profiles', 'description eq "x"', 'description'],
    ['/v2025/personal-access-tokens', 'name eq "x"', 'name'],
    ['/v2025/accounts', 'name eq "unterminated', 'unterminated'],
  ];
  for (const [path, filter, fragment] of rejected) {
    const response = await send<ErrorBody>('GET', `${path}?${filterQuery(filter)}`);
    assert.is(response.status, 400, `${path} ${filter}`);
    assert.match(response.body.messages[0]?.text ?? '', fragment, `${path} ${filter}`);
  }
});

/** Creates the Service Accounts profile on `source` and processes its accounts. */
async function createServiceAccountIdentityFor(source: SourceBody): Promise<void> {
  const profile = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: {
      name: 'Service Accounts',
      authoritativeSource: { type: 'SOURCE', id: source.id },
      identityAttributeConfig: {
        enabled: true,
        attributeTransforms: [mapping('uid', 'name', source), mapping('email', 'e-mail', source)],
      },
    },
  });
  assert.is(profile.status, 201);
  await send('POST', `/v2025/identity-profiles/${profile.body.id}/process-identities`);
  await eventually('processed accounts', async () => {
    const response = await send<AccountBody[]>(
      'GET',
      `/v2025/accounts?${filterQuery('uncorrelated eq true')}`,
    );
    return response.body.length === 0 ? true : undefined;
  });
}

/** One request of a validation table: method, path, body, content type, status, message part. */
type ValidationCase = [string, string, unknown, string | undefined, number, string];

async function checkValidationCases(cases: ValidationCase[]): Promise<void> {
  for (const [method, path, body, contentType, status, fragment] of cases) {
    const label = `${method} ${path} ${JSON.stringify(body) ?? ''}`;
    const response = await send<ErrorBody>(method, path, { body, contentType });
    assert.is(response.status, status, label);
    const text = response.body?.messages?.map((message) => message.text).join(' ') ?? '';
    assert.match(text, fragment, label);
  }
}

const patchType = 'application/json-patch+json';
const unknownId = '0123456789abcdef0123456789abcdef';
const unknownUuid = '00000000-0000-4000-8000-000000000000';

test('source validation errors', async () => {
  const source = await createSource();
  const schema = await useServiceAccountSchema(source.id);
  const owner = { type: 'IDENTITY', id: context.emulator.adminIdentityId };
  const create = '/v2025/sources?provisionAsCsv=true';
  await checkValidationCases([
    ['POST', create, { name: 'X', connector: 'delimited-file-angularsc' }, undefined, 400, 'owner'],
    ['POST', create, { name: 'X', owner }, undefined, 400, 'connector'],
    [
      'POST',
      create,
      {
        name: 'X',
        owner: { type: 'IDENTITY', id: unknownId },
        connector: 'delimited-file-angularsc',
      },
      undefined,
      400,
      'does not exist',
    ],
    [
      'POST',
      create,
      { name: 'service accounts', owner, connector: 'delimited-file-angularsc' },
      undefined,
      400,
      'already exists',
    ],
    ['GET', `/v2025/sources/${unknownId}`, undefined, undefined, 404, 'not found'],
    ['PUT', `/v2025/sources/${unknownId}`, source, undefined, 404, 'not found'],
    ['PUT', `/v2025/sources/${source.id}`, { ...source, type: 'Other' }, undefined, 400, '"type"'],
    ['GET', `/v2025/sources/${unknownId}/schemas`, undefined, undefined, 404, 'not found'],
    [
      'GET',
      `/v2025/sources/${source.id}/schemas/${unknownId}`,
      undefined,
      undefined,
      404,
      'not found',
    ],
    [
      'PATCH',
      `/v2025/sources/${source.id}/schemas/${schema.id}`,
      [{ op: 'replace', path: '/name', value: 'x' }],
      patchType,
      400,
      '"name"',
    ],
    [
      'PATCH',
      `/v2025/sources/${source.id}/schemas/${schema.id}`,
      [{ op: 'remove', path: '/nothing' }],
      patchType,
      400,
      '',
    ],
    [
      'PATCH',
      `/v2025/sources/${source.id}/schemas/${schema.id}`,
      [{ op: 'remove', path: '/attributes/0' }],
      'application/json',
      415,
      'application/json-patch+json',
    ],
  ]);
});

test('account validation errors', async () => {
  const source = await createSource();
  await useServiceAccountSchema(source.id);
  const account = await createAccount(source.id, 'SA-001', 'audit01');
  await checkValidationCases([
    ['GET', '/v2025/accounts?detailLevel=ALL', undefined, undefined, 400, 'detailLevel'],
    ['GET', '/v2025/accounts?limit=251', undefined, undefined, 400, 'limit'],
    ['GET', '/v2025/accounts?offset=-1', undefined, undefined, 400, 'offset'],
    ['GET', '/v2025/accounts?count=yes', undefined, undefined, 400, 'count'],
    ['GET', '/v2025/accounts?sorters=purpose', undefined, undefined, 400, 'purpose'],
    ['POST', '/v2025/accounts', { attributes: { id: 'SA-002' } }, undefined, 400, 'sourceId'],
    [
      'POST',
      '/v2025/accounts',
      { attributes: { sourceId: unknownId, id: 'SA-002' } },
      undefined,
      400,
      'does not exist',
    ],
    [
      'POST',
      '/v2025/accounts',
      { attributes: { sourceId: source.id, id: 'SA-002', email: 'x@example.com' } },
      undefined,
      400,
      '"email"',
    ],
    [
      'POST',
      '/v2025/accounts',
      { attributes: { sourceId: source.id, name: 'audit02' } },
      undefined,
      400,
      '"id"',
    ],
    ['GET', `/v2025/accounts/${unknownId}`, undefined, undefined, 404, 'not found'],
    [
      'PUT',
      `/v2025/accounts/${unknownId}`,
      { attributes: { id: 'SA-001' } },
      undefined,
      404,
      'not found',
    ],
    [
      'PUT',
      `/v2025/accounts/${account.id}`,
      { attributes: { id: 'SA-999', name: 'audit01' } },
      undefined,
      400,
      'cannot be changed',
    ],
    [
      'PUT',
      `/v2025/accounts/${account.id}`,
      { attributes: { id: 'SA-001', unknown: 'x' } },
      undefined,
      400,
      '"unknown"',
    ],
    ['DELETE', `/v2025/accounts/${unknownId}`, undefined, undefined, 404, 'not found'],
  ]);
});

test('identity profile validation errors', async () => {
  const source = await createSource();
  const created = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: { name: 'Service Accounts', authoritativeSource: { type: 'SOURCE', id: source.id } },
  });
  assert.is(created.status, 201);
  const path = `/v2025/identity-profiles/${created.body.id}`;
  await checkValidationCases([
    [
      'POST',
      '/v2025/identity-profiles',
      { authoritativeSource: { type: 'SOURCE', id: source.id } },
      undefined,
      400,
      'name',
    ],
    ['POST', '/v2025/identity-profiles', { name: 'Other' }, undefined, 400, 'authoritativeSource'],
    [
      'POST',
      '/v2025/identity-profiles',
      { name: 'Other', authoritativeSource: { type: 'SOURCE', id: unknownId } },
      undefined,
      400,
      'does not exist',
    ],
    [
      'POST',
      '/v2025/identity-profiles',
      { name: 'service accounts', authoritativeSource: { type: 'SOURCE', id: source.id } },
      undefined,
      400,
      'already exists',
    ],
    ['GET', '/v2025/identity-profiles/not-a-uuid', undefined, undefined, 400, 'UUID'],
    ['GET', `/v2025/identity-profiles/${unknownUuid}`, undefined, undefined, 404, 'not found'],
    [
      'PATCH',
      path,
      [{ op: 'replace', path: '/identityRefreshRequired', value: false }],
      patchType,
      400,
      'identityRefreshRequired',
    ],
    [
      'PATCH',
      path,
      [
        { op: 'replace', path: '/authoritativeSource', value: { type: 'SOURCE', id: source.id } },
        { op: 'replace', path: '/identityAttributeConfig/enabled', value: false },
      ],
      patchType,
      400,
      'same request',
    ],
    ['DELETE', `/v2025/identity-profiles/${unknownUuid}`, undefined, undefined, 404, 'not found'],
    [
      'POST',
      `/v2025/identity-profiles/${unknownUuid}/process-identities`,
      undefined,
      undefined,
      404,
      'not found',
    ],
  ]);
});

test('identity, task and access validation errors', async () => {
  const identity = await createServiceAccountIdentity();
  const other = await fetch(
    `${context.emulator.url}/__admin/identities/${identity.id}/personal-access-tokens?name=own`,
    { method: 'POST' },
  ).then((response) => response.json() as Promise<{ id: string }>);
  await checkValidationCases([
    ['GET', '/v2025/identities?defaultFilter=ALL', undefined, undefined, 400, 'defaultFilter'],
    ['GET', `/v2025/identities/${unknownId}`, undefined, undefined, 404, 'not found'],
    ['POST', '/v2025/identities/invite', { ids: [identity.id] }, undefined, 400, 'experimental'],
    ['GET', `/v2025/task-status/${unknownId}`, undefined, undefined, 404, 'not found'],
    ['GET', `/v2025/auth-users/${unknownId}`, undefined, undefined, 404, 'not found'],
    [
      'PATCH',
      `/v2025/auth-users/${unknownId}`,
      [{ op: 'replace', path: '/capabilities', value: [] }],
      patchType,
      404,
      'not found',
    ],
    [
      'PATCH',
      `/v2025/auth-users/${identity.id}`,
      [{ op: 'replace', path: '/uid', value: 'x' }],
      patchType,
      400,
      '"uid"',
    ],
    [
      'PATCH',
      `/v2025/personal-access-tokens/${other.id}`,
      [{ op: 'replace', path: '/name', value: 'x' }],
      patchType,
      403,
      'another identity',
    ],
    ['DELETE', `/v2025/personal-access-tokens/${other.id}`, undefined, undefined, 403, 'another'],
    [
      'PATCH',
      `/v2025/personal-access-tokens/${unknownId}`,
      [{ op: 'replace', path: '/name', value: 'x' }],
      patchType,
      404,
      'not found',
    ],
    [
      'DELETE',
      `/v2025/personal-access-tokens/${unknownId}`,
      undefined,
      undefined,
      404,
      'not found',
    ],
  ]);

  const invite = await fetch(`${context.emulator.url}/v2025/identities/invite`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${context.token}`,
      'content-type': 'application/json',
      'x-sailpoint-experimental': 'true',
    },
    body: JSON.stringify({ ids: [], uninvited: false }),
  });
  assert.is(invite.status, 400);
});

test('token request validation errors', async () => {
  const client = context.emulator.clients[0]!;
  const cases: Array<[Record<string, string>, number]> = [
    [{ client_id: client.clientId, client_secret: client.clientSecret }, 400],
    [
      { grant_type: 'password', client_id: client.clientId, client_secret: client.clientSecret },
      400,
    ],
    [{ grant_type: 'client_credentials', client_id: 'unknown', client_secret: 'x' }, 401],
    [{ grant_type: 'client_credentials', client_id: client.clientId }, 401],
  ];
  for (const [fields, status] of cases) {
    const response = await send<TokenBody>('POST', '/oauth/token', {
      body: new URLSearchParams(fields).toString(),
      contentType: 'application/x-www-form-urlencoded',
      token: null,
    });
    assert.is(response.status, status, JSON.stringify(fields));
  }
});

test('PAT list filters by owner', async () => {
  const identity = await createServiceAccountIdentity();
  const own = await admin<{ id: string }>(
    'POST',
    `identities/${identity.id}/personal-access-tokens?name=own`,
  );
  assert.is(own.status, 201);
  const adminPat = await send<PatBody>('POST', '/v2025/personal-access-tokens', {
    body: { name: 'ci', userAwareTokenNeverExpires: true },
  });

  const names = async (query: string) => {
    const response = await send<PatBody[]>('GET', `/v2025/personal-access-tokens${query}`);
    assert.is(response.status, 200, query);
    return response.body.map((token) => token.name).sort();
  };
  assert.equal(await names('?owner-id=me'), ['ci', 'emulator seed isc-emulator-admin']);
  assert.equal(await names(`?owner-id=${identity.id}`), ['own']);
  assert.equal(await names(''), ['ci', 'emulator seed isc-emulator-admin', 'own']);
  assert.equal(await names(`?owner-id=${unknownId}`), []);
  assert.is(adminPat.body.owner.id, context.emulator.adminIdentityId);
});

test('seed guide procedure replays', async () => {
  // Create a delimited file source named Service Accounts with the guide's four attributes.
  const source = await createSource('Service Accounts');
  await useServiceAccountSchema(source.id);

  // Download the accounts CSV file, add a row for SA-001 and import it.
  const template = await fetch(
    `${context.emulator.url}/v2025/sources/${source.id}/schemas/accounts`,
    {
      headers: { authorization: `Bearer ${context.token}` },
    },
  ).then((response) => response.text());
  assert.is(template, 'id,name,e-mail,purpose\n');
  const csv = `${template}SA-001,audit01,admin@example.com,Automate monthly audit report\n`;
  const imported = await finishedTask((await uploadAccounts(source.id, csv)).body.task.id);
  assert.is(imported.completionStatus, 'SUCCESS');
  assert.is(imported.attributes.created, 1);

  // Creating service accounts via API, steps 1 to 3.
  const sources = await send<SourceBody[]>(
    'GET',
    `/v2025/sources?${filterQuery('name eq "Service Accounts"')}`,
  );
  const sourceId = sources.body[0]!.id;
  const accounts = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${filterQuery(`sourceId eq "${sourceId}"`)}`,
  );
  assert.is(accounts.body.length, 1);
  const { idNowDescription: _hash, ...attributes } = accounts.body[0]!.attributes;
  const created = await send<Named>('POST', '/v2025/accounts', {
    body: { attributes: { ...attributes, sourceId, id: 'SA-002', name: 'audit02' } },
  });
  assert.is(created.status, 202);
  assert.type(created.body.id, 'string');
  await eventually('account SA-002', () => findAccount(sourceId, 'SA-002'));

  // Make the source authoritative with the Service Accounts profile and its mappings.
  const profile = await send<ProfileBody>('POST', '/v2025/identity-profiles', {
    body: {
      name: 'Service Accounts',
      authoritativeSource: { type: 'SOURCE', id: sourceId, name: 'Service Accounts' },
      identityAttributeConfig: {
        enabled: true,
        attributeTransforms: [
          mapping('uid', 'name', source),
          mapping('email', 'e-mail', source),
          mapping('lastname', 'name', source),
          mapping('firstname', 'name', source),
        ],
      },
    },
  });
  assert.is(profile.status, 201);
  assert.is((await send<SourceBody>('GET', `/v2025/sources/${sourceId}`)).body.authoritative, true);

  // Save, then Apply Changes.
  const applied = await send(
    'POST',
    `/v2025/identity-profiles/${profile.body.id}/process-identities`,
  );
  assert.is(applied.status, 202);
  const identity = await eventually('identity audit01', async () => {
    const response = await send<IdentityBody[]>(
      'GET',
      `/v2025/identities?${filterQuery('name eq "audit01"')}`,
    );
    return response.body[0];
  });
  assert.is(identity.emailAddress, 'admin@example.com');
  assert.is(identity.identityStatus, 'UNREGISTERED');

  // Send the invite, and register as its user would from the mail.
  const invited = await inviteIdentity(identity.id);
  assert.is(invited.status, 202);
  assert.is((await finishedTask(invited.body.id)).completionStatus, 'SUCCESS');
  assert.is((await admin('POST', `identities/${identity.id}/register`)).status, 204);

  // Give the service account a user level beyond the basic user.
  const basic = await send<AuthUserBody>('GET', `/v2025/auth-users/${identity.id}`);
  assert.equal(basic.body.capabilities, []);
  const raised = await send<AuthUserBody>('PATCH', `/v2025/auth-users/${identity.id}`, {
    body: [{ op: 'replace', path: '/capabilities', value: ['SOURCE_ADMIN'] }],
    contentType: patchType,
  });
  assert.equal(raised.body.capabilities, ['SOURCE_ADMIN']);

  // Log in as the service account and generate a scoped PAT for an integration.
  const login = await admin<{ id: string; secret: string }>(
    'POST',
    `identities/${identity.id}/personal-access-tokens?name=login`,
  );
  const session = await requestToken(login.body.id, login.body.secret);
  assert.is(session.body.identity_id, identity.id);
  context.token = session.body.access_token;
  const { token } = await scopedToken('audit-report', ['idn:accounts:read']);
  const read = await send<AccountBody[]>(
    'GET',
    `/v2025/accounts?${filterQuery(`sourceId eq "${sourceId}"`)}`,
    { token },
  );
  assert.is(read.status, 200);
  assert.is(read.body.length, 2);
  assert.is((await send('GET', '/v2025/sources', { token })).status, 403);
});

test('lists paginate across three pages', async () => {
  const sources: SourceBody[] = [];
  for (let index = 1; index <= 7; index++) sources.push(await createSource(`Source ${index}`));
  for (const [index, source] of sources.entries()) {
    const profile = await send('POST', '/v2025/identity-profiles', {
      body: {
        name: `Profile ${index + 1}`,
        authoritativeSource: { type: 'SOURCE', id: source.id },
      },
    });
    assert.is(profile.status, 201);
  }
  const first = sources[0]!;
  await useServiceAccountSchema(first.id);
  for (let index = 1; index <= 6; index++)
    await createAccount(first.id, `SA-00${index}`, `audit0${index}`);
  const profiles = await send<ProfileBody[]>(
    'GET',
    `/v2025/identity-profiles?${filterQuery('name eq "Profile 1"')}`,
  );
  await send('POST', `/v2025/identity-profiles/${profiles.body[0]!.id}/process-identities`);
  await eventually('seven identities', async () => {
    const response = await send<IdentityBody[]>('GET', '/v2025/identities?count=true');
    return response.headers.get('x-total-count') === '7' ? true : undefined;
  });

  const cases: Array<[string, string, string[]]> = [
    ['/v2025/sources', 'name', sources.map((source) => source.name)],
    ['/v2025/identity-profiles', 'name', sources.map((_, index) => `Profile ${index + 1}`)],
    [
      '/v2025/identities',
      'alias',
      ['admin', 'audit01', 'audit02', 'audit03', 'audit04', 'audit05', 'audit06'],
    ],
  ];
  for (const [path, sorter, expected] of cases) {
    const seen: string[] = [];
    const sizes: number[] = [];
    for (const offset of [0, 3, 6]) {
      const page = await send<Array<Named & { alias?: string }>>(
        'GET',
        `${path}?limit=3&offset=${offset}&count=true&sorters=${sorter}`,
      );
      assert.is(page.status, 200, path);
      assert.is(page.headers.get('x-total-count'), '7', path);
      sizes.push(page.body.length);
      seen.push(...page.body.map((item) => (sorter === 'alias' ? item.alias! : item.name)));
    }
    assert.equal(sizes, [3, 3, 1], path);
    assert.equal(seen, expected, path);
  }
});

test.run();
