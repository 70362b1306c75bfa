import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IdentityBatch } from '../../src/controller/identity-batch.ts';
import type { IscApi } from '../../src/isc/api.ts';
import { IscApiError } from '../../src/isc/errors.ts';
import type { Account, Identity } from '../../src/isc/types.ts';

interface Stub {
  reads: string[][];
  lookups?: Array<{ sourceId: string; ids: string[] }>;
  invitations: string[][];
  woken: string[];
  failInvitations?: Error;
  failReads?: Error;
}

function batchWith(stub: Stub, timing = { windowMs: 5, maxWaitMs: 20 }): IdentityBatch {
  const api = {
    getIdentities: async (ids: readonly string[]) => {
      stub.reads.push([...ids]);
      if (stub.failReads) throw stub.failReads;
      // Identities whose id starts with "gone" do not exist.
      return new Map<string, Identity>(
        ids
          .filter((id) => !id.startsWith('gone'))
          .map((id) => [id, { id, name: id, identityStatus: 'UNREGISTERED' }]),
      );
    },
    findAccounts: async (sourceId: string, ids: readonly string[]) => {
      stub.lookups?.push({ sourceId, ids: [...ids] });
      if (stub.failReads) throw stub.failReads;
      // Accounts whose id starts with "new" do not exist yet; "twin" ids have two accounts.
      return new Map<string, Account[]>(
        ids
          .filter((id) => !id.startsWith('new'))
          .map((id) => {
            const account = {
              id: `acc-${id}`,
              name: id,
              nativeIdentity: id.toUpperCase(),
              sourceId,
            } as unknown as Account;
            return [
              id.toLowerCase(),
              id.startsWith('twin') ? [account, { ...account, id: `acc2-${id}` }] : [account],
            ];
          }),
      );
    },
    inviteIdentities: async (ids: string[]) => {
      stub.invitations.push([...ids]);
      if (stub.failInvitations) throw stub.failInvitations;
    },
  } as unknown as IscApi;
  return new IdentityBatch({
    api,
    wake: (keys) => stub.woken.push(...keys),
    ...timing,
    logger: pino({ level: 'silent' }),
  });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

test('reads of many resources share one request per hundred identities', async () => {
  const stub: Stub = { reads: [], invitations: [], woken: [] };
  const batch = batchWith(stub);
  for (let index = 0; index < 250; index++) {
    assert.equal(batch.identity(`id-${index}`, `ns/sa-${index}`), { state: 'pending' });
  }
  await settle();
  assert.equal(
    stub.reads.map((ids) => ids.length),
    [100, 100, 50],
  );
  assert.is(stub.woken.length, 250);
  const result = batch.identity('id-7', 'ns/sa-7');
  assert.is(result.state, 'read');
  assert.is(result.state === 'read' && result.identity?.id, 'id-7');
  // A result serves one reconcile, so the next one reads ISC again.
  assert.equal(batch.identity('id-7', 'ns/sa-7'), { state: 'pending' });
});

test('a full request goes out without waiting for the window', async () => {
  const stub: Stub = { reads: [], invitations: [], woken: [] };
  const batch = batchWith(stub, { windowMs: 60_000, maxWaitMs: 60_000 });
  for (let index = 0; index < 99; index++) batch.identity(`id-${index}`, `ns/sa-${index}`);
  await settle();
  assert.equal(stub.reads, [], 'a request that is not full waits');
  batch.identity('id-99', 'ns/sa-99');
  await settle();
  assert.equal(
    stub.reads.map((ids) => ids.length),
    [100],
  );
  batch.close();
});

test('a key that asks again while its read is in flight joins it', async () => {
  const stub: Stub = { reads: [], invitations: [], woken: [] };
  const batch = batchWith(stub);
  batch.identity('id-1', 'ns/a');
  batch.identity('id-1', 'ns/a');
  batch.identity('id-1', 'ns/b');
  await settle();
  assert.equal(stub.reads, [['id-1']]);
  assert.equal(stub.woken.sort(), ['ns/a', 'ns/b']);
});

test('an unknown identity reads as undefined and a failed read as failed', async () => {
  const stub: Stub = { reads: [], invitations: [], woken: [] };
  const batch = batchWith(stub);
  batch.identity('gone-1', 'ns/a');
  await settle();
  assert.equal(batch.identity('gone-1', 'ns/a'), { state: 'read', identity: undefined });

  stub.failReads = new Error('ISC is down');
  batch.identity('id-2', 'ns/b');
  await settle();
  const failed = batch.identity('id-2', 'ns/b');
  assert.is(failed.state, 'failed');
});

test('invitations go out in one request and are not resent after a failure', async () => {
  const stub: Stub = { reads: [], invitations: [], woken: [] };
  const batch = batchWith(stub);
  for (let index = 0; index < 300; index++) batch.invite(`id-${index}`, `ns/sa-${index}`, {});
  await settle();
  assert.equal(
    stub.invitations.map((ids) => ids.length),
    [250, 50],
  );
  assert.is(stub.woken.length, 0, 'a sent invitation wakes no one');

  const refusal = new IscApiError({
    method: 'POST',
    path: '/v2025/identities/invite',
    status: 403,
    detail: { messages: ['missing scope'] },
  });
  stub.failInvitations = refusal;
  batch.invite('id-x', 'ns/x', { sentAt: 'before' });
  await settle();
  assert.is(stub.invitations.length, 3, 'one attempt only');
  assert.equal(stub.woken, ['ns/x']);
  const failure = batch.takeInvitationFailure('id-x');
  assert.is(failure?.error, refusal);
  assert.equal(failure?.context, { sentAt: 'before' });
  assert.is(batch.takeInvitationFailure('id-x'), undefined, 'a failure is reported once');
});

test('account lookups share one request per source and hundred ids, regardless of case', async () => {
  const stub: Stub = { reads: [], invitations: [], woken: [], lookups: [] };
  const batch = batchWith(stub);
  for (let index = 0; index < 150; index++) {
    assert.equal(batch.account('source-a', `SA-${index}`, `ns/a-${index}`), { state: 'pending' });
  }
  assert.equal(batch.account('source-b', 'new-1', 'ns/b-1'), { state: 'pending' });
  assert.equal(batch.account('source-b', 'twin-1', 'ns/b-2'), { state: 'pending' });
  // A second resource asking for the same id joins the same read.
  assert.equal(batch.account('source-a', 'sa-3', 'ns/other'), { state: 'pending' });
  await settle();
  assert.equal(stub.lookups!.map(({ sourceId, ids }) => `${sourceId}:${ids.length}`).sort(), [
    'source-a:100',
    'source-a:50',
    'source-b:2',
  ]);
  assert.is(stub.reads.length, 0, 'no identity read');
  assert.is(stub.woken.length, 153);

  const found = batch.account('source-a', 'SA-3', 'ns/a-3');
  assert.is(
    found.state === 'read' && found.accounts.map((a) => a.id).join(),
    'acc-SA-3',
    'sent as the first resource spelled it',
  );
  const joined = batch.account('source-a', 'sa-3', 'ns/other');
  assert.is(joined.state === 'read' && joined.accounts.length, 1);
  assert.equal(batch.account('source-b', 'new-1', 'ns/b-1'), { state: 'read', accounts: [] });
  const twins = batch.account('source-b', 'twin-1', 'ns/b-2');
  assert.is(twins.state === 'read' && twins.accounts.length, 2);
  // Each result serves one reconcile: the next lookup waits for a new read.
  assert.equal(batch.account('source-a', 'SA-3', 'ns/a-3'), { state: 'pending' });
  batch.close();
});

test("a failed account lookup is each waiting resource's result", async () => {
  const failure = new Error('503 from ISC');
  const stub: Stub = { reads: [], invitations: [], woken: [], lookups: [], failReads: failure };
  const batch = batchWith(stub);
  batch.account('source-a', 'SA-1', 'ns/a');
  batch.account('source-a', 'SA-2', 'ns/b');
  await settle();
  assert.equal(stub.woken.sort(), ['ns/a', 'ns/b']);
  assert.equal(batch.account('source-a', 'SA-1', 'ns/a'), { state: 'failed', error: failure });
  batch.close();
});

test.run();
