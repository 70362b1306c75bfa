import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BatchReport } from '../../src/controller/csv-batcher.ts';
import { CsvBatcher, taskCounts } from '../../src/controller/csv-batcher.ts';
import type { TenantConnection } from '../../src/controller/tenant-registry.ts';
import { parseAccountsCsv } from '../../src/isc/accounts-csv.ts';
import type { Account, SchemaAttribute, SourceSchema } from '../../src/isc/types.ts';
import { accountFinalizer, type ServiceAccount } from '../../src/kube/types.ts';

const attribute = (name: string, isMulti = false): SchemaAttribute => ({
  name,
  type: 'STRING',
  isMulti,
  isEntitlement: false,
  isGroup: false,
});
const goodSchema: SourceSchema = {
  id: 'schema-1',
  name: 'account',
  nativeObjectType: 'User',
  identityAttribute: 'id',
  displayAttribute: 'name',
  attributes: ['id', 'name', 'e-mail', 'purpose'].map((name) => attribute(name)),
} as SourceSchema;

/** A tenant stub that applies each uploaded file to `accounts`, as a full aggregation does. */
function fakeTenant(schema: SourceSchema, accounts: Account[], results: string[] = []) {
  const uploads: string[] = [];
  let processed = 0;
  const apply = (text: string) => {
    const rows = parseAccountsCsv(text).rows;
    accounts.splice(
      0,
      accounts.length,
      ...rows.map((row, index) => ({
        id: `acc-${index}`,
        name: row.name ?? '',
        nativeIdentity: row.id ?? '',
        sourceId: 'source-1',
        attributes: row,
      })),
    );
  };
  const connection = {
    api: {
      async *list() {
        yield* accounts;
      },
      async loadAccounts(_sourceId: string, text: string) {
        uploads.push(text);
        return { id: `task-${uploads.length}` };
      },
      async waitForTask(id: string) {
        const result = results.shift() ?? 'SUCCESS';
        // A task that ends with ERROR changes no account, as in ISC.
        if (result !== 'ERROR') apply(uploads.at(-1)!);
        return { id, completionStatus: result, completed: 'now' };
      },
      async processIdentityProfile() {
        processed++;
      },
    },
    setup: {
      async ensure() {
        return {
          source: { id: 'source-1', name: 'Service Accounts' },
          accountSchema: schema,
          identityProfile: { id: 'profile-1' },
        };
      },
      invalidate() {},
      noteIdentityProcessing() {},
    },
  } as unknown as TenantConnection;
  return { connection, uploads, processed: () => processed };
}

let uidCounter = 0;
function resource(accountId: string, extra: Partial<ServiceAccount['metadata']> = {}) {
  uidCounter++;
  return {
    metadata: {
      name: accountId.toLowerCase(),
      namespace: 'team',
      uid: `uid-${uidCounter}`,
      generation: 1,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, uidCounter)),
      finalizers: [accountFinalizer],
      ...extra,
    },
    spec: { accountId, email: `${accountId.toLowerCase()}@example.com`, purpose: 'p' },
    status: { accountOwned: true },
  } as unknown as ServiceAccount;
}

function unmanaged(id: string): Account {
  return {
    id: `u-${id}`,
    name: id,
    nativeIdentity: id,
    sourceId: 'source-1',
    attributes: { id, name: id, 'e-mail': `${id}@example.com`, purpose: 'kept, "as is"\nhere' },
  };
}

function makeBatcher(
  connection: TenantConnection,
  resources: ServiceAccount[],
  synced: { value: boolean },
) {
  const reports: BatchReport[] = [];
  const woken: string[] = [];
  const batcher = new CsvBatcher({
    tenantName: 'default',
    connection: () => connection,
    resources: () => resources,
    synced: () => synced.value,
    wake: (keys) => woken.push(...keys),
    report: async (report) => {
      reports.push(report);
    },
    logger: pino({ level: 'silent' }),
    retryMaxMs: 50,
    identityPendingMaxAgeMs: 10,
  });
  batcher.configure(20, 10);
  return { batcher, reports, woken };
}

const settle = (ms = 120) => new Promise((resolve) => setTimeout(resolve, ms));

test('one upload for many submits in a window', async () => {
  const accounts = [unmanaged('HAND-1')];
  const tenant = fakeTenant(goodSchema, accounts);
  const resources = ['SA-1', 'SA-2', 'SA-3'].map((id) => resource(id));
  const { batcher, woken } = makeBatcher(tenant.connection, resources, { value: true });
  for (const item of resources) assert.is(batcher.submit(item, true), 'scheduled');
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 1);
  assert.is(tenant.processed(), 1);
  assert.equal(woken.sort(), ['team/sa-1', 'team/sa-2', 'team/sa-3']);
  const ids = parseAccountsCsv(tenant.uploads[0]!).rows.map((row) => row.id);
  assert.equal(ids, ['HAND-1', 'SA-1', 'SA-2', 'SA-3']);
});

test('a burst longer than the window goes out in one upload', async () => {
  const tenant = fakeTenant(goodSchema, []);
  const resources = Array.from({ length: 5 }, (_, index) => resource(`SA-${index}`));
  const { batcher } = makeBatcher(tenant.connection, resources, { value: true });
  // A 50 ms window, so at most 150 ms in all; changes 20 ms apart for about 100 ms.
  batcher.configure(50, 10);
  for (const item of resources) {
    batcher.submit(item, true);
    await settle(20);
  }
  assert.is(tenant.uploads.length, 0, 'no upload while changes keep arriving');
  await settle(250);
  batcher.stop();
  assert.is(tenant.uploads.length, 1);
  assert.is(parseAccountsCsv(tenant.uploads[0]!).rows.length, 5);
});

test('a steady stream is uploaded after three windows at the latest', async () => {
  const tenant = fakeTenant(goodSchema, []);
  const resources = Array.from({ length: 20 }, (_, index) => resource(`SA-${index}`));
  const { batcher } = makeBatcher(tenant.connection, resources, { value: true });
  // Changes every 10 ms for at least 200 ms never leave the 20 ms window quiet. The upload
  // still starts 60 ms after the first change.
  for (const item of resources) {
    batcher.submit(item, true);
    await settle(10);
  }
  assert.ok(tenant.uploads.length >= 1, 'an upload while changes still arrive');
  await settle();
  batcher.stop();
});

test('an account without identity is read again sooner', async () => {
  const accounts = [unmanaged('SA-1')];
  const tenant = fakeTenant(goodSchema, accounts);
  const { batcher } = makeBatcher(tenant.connection, [], { value: true });
  const before = await batcher.lookup(tenant.connection, 'source-1', 'SA-1');
  assert.is(before[0]?.identityId, undefined);
  // ISC processed the identity; the 30 s snapshot would not show it.
  accounts[0] = { ...accounts[0]!, identityId: 'identity-1' };
  await settle(20);
  const after = await batcher.lookup(tenant.connection, 'source-1', 'SA-1');
  assert.is(after[0]?.identityId, 'identity-1');
  batcher.stop();
});

test('unowned row is uploaded unchanged', async () => {
  const hand = unmanaged('HAND-1');
  const tenant = fakeTenant(goodSchema, [hand]);
  const resources = [resource('SA-1')];
  const { batcher } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  const rows = parseAccountsCsv(tenant.uploads[0]!).rows;
  assert.equal(rows[0], hand.attributes);
});

test('no upload before the informer synced', async () => {
  const tenant = fakeTenant(goodSchema, []);
  const resources = [resource('SA-1')];
  const synced = { value: false };
  const { batcher } = makeBatcher(tenant.connection, resources, synced);
  batcher.submit(resources[0]!, true);
  await settle();
  assert.is(tenant.uploads.length, 0);
  synced.value = true;
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 1);
});

test('schema mismatch stops uploads', async () => {
  const schema = {
    ...goodSchema,
    attributes: [...goodSchema.attributes, attribute('groups', true)],
  } as SourceSchema;
  const tenant = fakeTenant(schema, []);
  const resources = [resource('SA-1')];
  const { batcher, reports } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 0);
  const refusal = reports.find((report) => report.kind === 'refused');
  assert.is(refusal?.kind === 'refused' && refusal.reason, 'SchemaMismatch');
  assert.match(refusal?.kind === 'refused' ? refusal.message : '', 'groups');
});

test('guard refuses a mass removal', async () => {
  const accounts = [unmanaged('HAND-1')];
  const resources = Array.from({ length: 9 }, (_, index) => resource(`SA-${index}`));
  for (const item of resources) {
    accounts.push({
      id: `a-${item.spec.accountId}`,
      name: item.metadata.name,
      nativeIdentity: item.spec.accountId!,
      sourceId: 'source-1',
      attributes: {
        id: item.spec.accountId!,
        name: item.metadata.name,
        'e-mail': item.spec.email,
        purpose: 'p',
      },
    });
  }
  const tenant = fakeTenant(goodSchema, accounts);
  for (const item of resources.slice(0, 5)) {
    item.metadata.deletionTimestamp = new Date();
  }
  const { batcher, reports } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 0);
  const refusal = reports.find((report) => report.kind === 'refused');
  assert.is(refusal?.kind === 'refused' && refusal.reason, 'UnsafeUpload');
  assert.match(refusal?.kind === 'refused' ? refusal.message : '', '5 of the source');
  assert.is(accounts.length, 10);
  assert.is(batcher.stalledReason, 'UnsafeUpload');
});

test('raised guard retries at once', async () => {
  const accounts: Account[] = [];
  const resources = Array.from({ length: 4 }, (_, index) => resource(`SA-${index}`));
  for (const item of resources) {
    accounts.push({
      id: `a-${item.spec.accountId}`,
      name: item.metadata.name,
      nativeIdentity: item.spec.accountId!,
      sourceId: 'source-1',
      attributes: {
        id: item.spec.accountId!,
        name: item.metadata.name,
        'e-mail': item.spec.email,
        purpose: 'p',
      },
    });
  }
  for (const item of resources) item.metadata.deletionTimestamp = new Date();
  const tenant = fakeTenant(goodSchema, accounts);
  const reports: BatchReport[] = [];
  const batcher = new CsvBatcher({
    tenantName: 'default',
    connection: () => tenant.connection,
    resources: () => resources,
    synced: () => true,
    wake: () => {},
    report: async (report) => {
      reports.push(report);
    },
    logger: pino({ level: 'silent' }),
    retryMaxMs: 60_000,
  });
  batcher.configure(20, 10);
  batcher.submit(resources[0]!, true);
  await settle();
  assert.is(tenant.uploads.length, 0);
  assert.is(batcher.stalledReason, 'UnsafeUpload');
  batcher.configure(20, 100);
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 1);
  assert.is(accounts.length, 0);
  assert.is(batcher.stalledReason, undefined, 'a landed upload ends the stall');
});

test('guard allows a removal within the share', async () => {
  const accounts = [unmanaged('HAND-1')];
  const resources = Array.from({ length: 9 }, (_, index) => resource(`SA-${index}`));
  for (const item of resources) {
    accounts.push({
      id: `a-${item.spec.accountId}`,
      name: item.metadata.name,
      nativeIdentity: item.spec.accountId!,
      sourceId: 'source-1',
      attributes: {
        id: item.spec.accountId!,
        name: item.metadata.name,
        'e-mail': item.spec.email,
        purpose: 'p',
      },
    });
  }
  const tenant = fakeTenant(goodSchema, accounts);
  resources[0]!.metadata.deletionTimestamp = new Date();
  const { batcher } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 1);
  assert.not.ok(accounts.some((account) => account.nativeIdentity === 'SA-0'));
  assert.ok(accounts.some((account) => account.nativeIdentity === 'HAND-1'));
});

test('orphaned resource keeps its row', async () => {
  const hand = unmanaged('SA-9');
  const tenant = fakeTenant(goodSchema, [hand]);
  const orphan = resource('SA-9');
  orphan.spec.deletionPolicy = 'Orphan';
  orphan.spec.purpose = 'changed in spec';
  orphan.metadata.deletionTimestamp = new Date();
  orphan.metadata.finalizers = [];
  const other = resource('SA-1');
  const { batcher } = makeBatcher(tenant.connection, [orphan, other], { value: true });
  batcher.submit(other, true);
  await settle();
  batcher.stop();
  const rows = parseAccountsCsv(tenant.uploads[0]!).rows;
  assert.equal(
    rows.find((row) => row.id === 'SA-9'),
    hand.attributes,
  );
});

test('unchanged file is not uploaded', async () => {
  const tenant = fakeTenant(goodSchema, []);
  const resources = [resource('SA-1')];
  const { batcher, reports } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  assert.is(tenant.uploads.length, 1);
  resources[0]!.metadata.generation = 2;
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  assert.is(tenant.uploads.length, 1);
  assert.ok(reports.some((report) => report.kind === 'unchanged'));
});

test('landed generation is not sent again', async () => {
  const tenant = fakeTenant(goodSchema, []);
  const resources = [resource('SA-1')];
  const { batcher } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  assert.is(batcher.submit(resources[0]!, true), 'landed');
  batcher.stop();
});

test('warning with removals is retried', async () => {
  const accounts = Array.from({ length: 10 }, (_, index) => unmanaged(`HAND-${index}`));
  const resources = [resource('HAND-0')];
  resources[0]!.metadata.deletionTimestamp = new Date();
  const tenant = fakeTenant(goodSchema, accounts, ['WARNING']);
  const { batcher, reports, woken } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle(300);
  batcher.stop();
  const results = reports.flatMap((report) => (report.kind === 'uploaded' ? [report.result] : []));
  assert.equal(results, ['WARNING']);
  assert.ok(
    reports.some((report) => report.kind === 'unchanged'),
    'no retry after WARNING',
  );
  assert.equal(woken, ['team/hand-0']);
});

test('counts come from the task result', async () => {
  const accounts = Array.from({ length: 10 }, (_, index) => unmanaged(`HAND-${index}`));
  const resources = [resource('HAND-0')];
  resources[0]!.metadata.deletionTimestamp = new Date();
  const tenant = fakeTenant(goodSchema, accounts);
  // As ISC does when the source's deleteThreshold skips the removals: WARNING, deleted 0.
  const api = tenant.connection.api as unknown as Record<string, unknown>;
  api.waitForTask = async (id: string) => ({
    id,
    completed: 'now',
    completionStatus: 'WARNING',
    attributes: { total: 9, created: 0, updated: 9, deleted: 0, ignored: 0, optimized: 0 },
    returns: ['total', 'created', 'updated', 'deleted'].map((name) => ({
      name: `TASK_OUT_ACCOUNT_AGGREGATION_${name.toUpperCase()}`,
      attributeName: name,
    })),
  });
  const { batcher, reports } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  const uploaded = reports.find((report) => report.kind === 'uploaded');
  assert.ok(uploaded?.kind === 'uploaded', 'no upload reported');
  assert.is(uploaded.countsFrom, 'task');
  assert.is(uploaded.removed, 0);
  assert.is(uploaded.updated, 9);
  assert.is(uploaded.plannedRemovals, 1);
});

test('counts fall back to the diff', async () => {
  const tenant = fakeTenant(goodSchema, []);
  const resources = [resource('SA-1')];
  const { batcher, reports } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle();
  batcher.stop();
  const uploaded = reports.find((report) => report.kind === 'uploaded');
  assert.ok(uploaded?.kind === 'uploaded', 'no upload reported');
  assert.is(uploaded.countsFrom, 'diff');
  assert.is(uploaded.created, 1);
});

test('task counts read as numbers or strings', () => {
  assert.equal(taskCounts({ id: 't', attributes: { created: '2', updated: 0, deleted: '1' } }), {
    created: 2,
    updated: 0,
    removed: 1,
  });
  assert.is(taskCounts({ id: 't', attributes: { created: 2, updated: 0 } }), undefined);
  assert.is(
    taskCounts({ id: 't', attributes: { created: 'x', updated: 0, deleted: 0 } }),
    undefined,
  );
  assert.is(taskCounts({ id: 't' }), undefined);
});

test('failed task is retried', async () => {
  const tenant = fakeTenant(goodSchema, [], ['ERROR']);
  const resources = [resource('SA-1')];
  const { batcher, reports } = makeBatcher(tenant.connection, resources, { value: true });
  batcher.submit(resources[0]!, true);
  await settle(300);
  batcher.stop();
  const results = reports.flatMap((report) => (report.kind === 'uploaded' ? [report.result] : []));
  assert.equal(results, ['ERROR', 'SUCCESS']);
});

test.run();
