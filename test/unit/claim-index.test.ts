/** The claim index: which other resources claim the same account id or name, without a scan. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClaimIndex } from '../../src/controller/claim-index.ts';
import { objectKey, type ServiceAccount } from '../../src/kube/types.ts';

function account(
  namespace: string,
  name: string,
  spec: { accountId?: string; name?: string; managementPolicy?: 'Full' | 'ObserveOnly' } = {},
): ServiceAccount {
  return {
    apiVersion: 'isc.sailpoint/v1alpha1',
    kind: 'ServiceAccount',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}` },
    spec: { email: `${name}@example.com`, ...spec },
  };
}

/** Builds an index over a map that replaces the informer's cache. */
function indexed(...resources: ServiceAccount[]) {
  const cache = new Map<string, ServiceAccount>();
  const index = new ClaimIndex((key) => cache.get(key));
  const put = (resource: ServiceAccount) => {
    cache.set(objectKey(resource), resource);
    index.set(resource);
  };
  const drop = (resource: ServiceAccount) => {
    cache.delete(objectKey(resource));
    index.remove(resource);
  };
  for (const resource of resources) put(resource);
  const sharing = (resource: ServiceAccount) =>
    index
      .sharing(resource)
      .map((peer) => objectKey(peer))
      .sort();
  return { index, put, drop, sharing };
}

test('finds resources that share the account id or the name, regardless of case', () => {
  const first = account('a', 'ci-bot', { accountId: 'SA-1' });
  const sameId = account('b', 'other', { accountId: 'sa-1' });
  const sameName = account('c', 'x', { name: 'CI-Bot', accountId: 'SA-2' });
  const unrelated = account('d', 'unrelated', { accountId: 'SA-3' });
  const { sharing } = indexed(first, sameId, sameName, unrelated);
  assert.equal(sharing(first), ['b/other', 'c/x']);
  assert.equal(sharing(unrelated), []);
});

test('a resource without an account id is matched by name only', () => {
  const pending = account('a', 'build', {});
  const withId = account('b', 'build', { accountId: 'SA-9' });
  const { sharing } = indexed(pending, withId);
  assert.equal(sharing(pending), ['b/build']);
});

test('an update moves the claims and a delete drops them', () => {
  const first = account('a', 'one', { accountId: 'SA-1' });
  const second = account('b', 'two', { accountId: 'SA-2' });
  const { index, put, drop, sharing } = indexed(first, second);
  assert.equal(sharing(first), []);

  put({ ...second, spec: { ...second.spec, accountId: 'SA-1' } });
  assert.equal(sharing(first), ['b/two']);

  put({ ...second, spec: { ...second.spec, accountId: 'SA-5' } });
  assert.equal(sharing(first), []);

  put({ ...second, spec: { ...second.spec, accountId: 'SA-1' } });
  drop(second);
  assert.equal(sharing(first), []);
  assert.is(index.size, 1);
});

test('the cached object decides: an entry older than the cache matches nothing', () => {
  const cache = new Map<string, ServiceAccount>();
  const index = new ClaimIndex((key) => cache.get(key));
  const first = account('a', 'one', { accountId: 'SA-1' });
  const second = account('b', 'two', { accountId: 'SA-1' });
  index.set(second);
  // The cache already contains a newer version whose claim differs, and its event is still due.
  cache.set(objectKey(second), { ...second, spec: { ...second.spec, accountId: 'SA-7' } });
  assert.equal(index.sharing(first), []);
});

test('ObserveOnly resources count as claims', () => {
  const observer = account('a', 'watcher', { accountId: 'SA-1', managementPolicy: 'ObserveOnly' });
  const managed = account('b', 'manager', { accountId: 'SA-1' });
  const { sharing } = indexed(observer, managed);
  assert.equal(sharing(managed), ['a/watcher']);
  assert.equal(sharing(observer), ['b/manager']);
});

test.run();
