/** The claim index: which other resources claim the same account id or name, without a scan. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ClaimIndex,
  type ClaimScope,
  sourceScope,
  tenantScope,
} from '../../src/controller/claim-index.ts';
import { TenantRegistry } from '../../src/controller/tenant-registry.ts';
import { objectKey, type ServiceAccount } from '../../src/kube/types.ts';

function account(
  namespace: string,
  name: string,
  spec: {
    accountId?: string;
    name?: string;
    managementPolicy?: 'Full' | 'ObserveOnly';
    tenantRef?: { name: string };
  } = {},
  status: { tenant?: string } = {},
): ServiceAccount {
  return {
    apiVersion: 'isc.sailpoint/v1alpha1',
    kind: 'ServiceAccount',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}` },
    spec: { email: `${name}@example.com`, ...spec },
    ...(status.tenant ? { status: { tenant: status.tenant } } : {}),
  };
}

/** Scopes by the referenced Tenant's name. An absent reference means "default". */
function byTenantName(resource: ServiceAccount): ClaimScope {
  return resource.spec.tenantRef?.name ?? 'default';
}

/** Builds an index over a map that replaces the informer's cache. */
function indexed(
  resources: ServiceAccount[],
  scopeOf: (resource: ServiceAccount) => ClaimScope = byTenantName,
) {
  const cache = new Map<string, ServiceAccount>();
  const index = new ClaimIndex((key) => cache.get(key), scopeOf);
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
  const { sharing } = indexed([first, sameId, sameName, unrelated]);
  assert.equal(sharing(first), ['b/other', 'c/x']);
  assert.equal(sharing(unrelated), []);
});

test('a resource without an account id is matched by name only', () => {
  const pending = account('a', 'build', {});
  const withId = account('b', 'build', { accountId: 'SA-9' });
  const { sharing } = indexed([pending, withId]);
  assert.equal(sharing(pending), ['b/build']);
});

test('an update moves the claims and a delete drops them', () => {
  const first = account('a', 'one', { accountId: 'SA-1' });
  const second = account('b', 'two', { accountId: 'SA-2' });
  const { index, put, drop, sharing } = indexed([first, second]);
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
  const index = new ClaimIndex((key) => cache.get(key), byTenantName);
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
  const { sharing } = indexed([observer, managed]);
  assert.equal(sharing(managed), ['a/watcher']);
  assert.equal(sharing(observer), ['b/manager']);
});

/** Builds a registry of Tenants as the tenant controller records them, none connected. */
function registryOf(
  tenants: Record<string, { baseUrl: string; source?: string; markedDefault?: boolean }>,
) {
  const registry = new TenantRegistry();
  for (const [name, tenant] of Object.entries(tenants)) {
    registry.set(name, {
      connection: undefined,
      ready: false,
      reason: 'Connecting',
      message: '',
      markedDefault: tenant.markedDefault ?? false,
      sourceScope: sourceScope(tenant.baseUrl, tenant.source ?? 'Service Accounts'),
    });
  }
  return registry;
}

/** Scopes claims as the controller does: through the registry, by tenantRef or status.tenant. */
function scopedBy(registry: TenantRegistry) {
  return (resource: ServiceAccount) =>
    registry.claimScope(resource.spec.tenantRef?.name ?? resource.status?.tenant);
}

const twoTenants = {
  default: { baseUrl: 'https://acme.api.identitynow.com' },
  sandbox: { baseUrl: 'https://acme-sb.api.identitynow.com' },
};

test('same id on two tenants', () => {
  const registry = registryOf(twoTenants);
  const production = account('a', 'prod-bot', { accountId: 'SA-1' });
  const sandbox = account('b', 'sandbox-bot', {
    accountId: 'SA-1',
    tenantRef: { name: 'sandbox' },
  });
  const { sharing } = indexed([production, sandbox], scopedBy(registry));
  assert.equal(sharing(production), []);
  assert.equal(sharing(sandbox), []);
});

test('same name on two tenants', () => {
  const registry = registryOf(twoTenants);
  const production = account('a', 'bot', { accountId: 'SA-1' });
  const sandbox = account('b', 'bot', { accountId: 'SA-2', tenantRef: { name: 'sandbox' } });
  const { sharing } = indexed([production, sandbox], scopedBy(registry));
  assert.equal(sharing(production), []);
});

test('same id on one tenant', () => {
  const registry = registryOf(twoTenants);
  const first = account('a', 'one', { accountId: 'SA-1', tenantRef: { name: 'sandbox' } });
  const second = account('b', 'two', { accountId: 'sa-1', tenantRef: { name: 'sandbox' } });
  const { sharing } = indexed([first, second], scopedBy(registry));
  assert.equal(sharing(first), ['b/two']);
  assert.equal(sharing(second), ['a/one']);
});

test('absent and default tenantRef collide', () => {
  const registry = registryOf({
    ...twoTenants,
    production: { baseUrl: 'https://acme-prod.api.identitynow.com', markedDefault: true },
  });
  const implicit = account('a', 'one', { accountId: 'SA-1' });
  const explicit = account('b', 'two', { accountId: 'SA-1', tenantRef: { name: 'production' } });
  const named = account('c', 'three', { accountId: 'SA-1', tenantRef: { name: 'default' } });
  const { sharing } = indexed([implicit, explicit, named], scopedBy(registry));
  assert.equal(sharing(implicit), ['b/two']);
  assert.equal(sharing(explicit), ['a/one']);
  assert.equal(sharing(named), []);
});

test('moved default marker moves claims', () => {
  const registry = registryOf(twoTenants);
  const implicit = account('a', 'one', { accountId: 'SA-1' });
  const recorded = account('b', 'two', { accountId: 'SA-2' }, { tenant: 'default' });
  const sandbox = account('c', 'three', { accountId: 'SA-1', tenantRef: { name: 'sandbox' } });
  const sandboxPeer = account('d', 'four', { accountId: 'SA-2', tenantRef: { name: 'sandbox' } });
  const { sharing } = indexed([implicit, recorded, sandbox, sandboxPeer], scopedBy(registry));
  assert.equal(sharing(sandbox), []);

  registry.set('sandbox', { ...registry.get('sandbox')!, markedDefault: true });
  assert.equal(sharing(sandbox), ['a/one']);
  // status.tenant keeps a resource in the tenant its account was created in.
  assert.equal(sharing(sandboxPeer), []);
});

test('changed tenantRef moves the claim', () => {
  // The CRD makes spec.tenantRef immutable; the index must not depend on that.
  const registry = registryOf(twoTenants);
  const production = account('a', 'one', { accountId: 'SA-1' });
  const moving = account('b', 'two', { accountId: 'SA-1', tenantRef: { name: 'sandbox' } });
  const { put, sharing } = indexed([production, moving], scopedBy(registry));
  assert.equal(sharing(production), []);

  put({ ...moving, spec: { ...moving.spec, tenantRef: { name: 'default' } } });
  assert.equal(sharing(production), ['b/two']);
});

test('two Tenants on one source', () => {
  const registry = registryOf({
    default: { baseUrl: 'https://acme.api.identitynow.com' },
    sameSource: { baseUrl: 'https://ACME.api.identitynow.com/', source: 'service accounts' },
    otherSource: { baseUrl: 'https://acme.api.identitynow.com', source: 'Robots' },
  });
  const first = account('a', 'one', { accountId: 'SA-1' });
  const sameSource = account('b', 'two', { accountId: 'SA-1', tenantRef: { name: 'sameSource' } });
  const otherSource = account('c', 'three', {
    accountId: 'SA-1',
    tenantRef: { name: 'otherSource' },
  });
  const { sharing } = indexed([first, sameSource, otherSource], scopedBy(registry));
  assert.equal(sharing(first), ['b/two']);
  assert.equal(sharing(otherSource), []);
});

test('unknown Tenant scoped by name', () => {
  const registry = registryOf(twoTenants);
  assert.is(registry.claimScope('missing'), tenantScope('missing'));
  const first = account('a', 'one', { accountId: 'SA-1', tenantRef: { name: 'missing' } });
  const second = account('b', 'two', { accountId: 'SA-1', tenantRef: { name: 'missing' } });
  const elsewhere = account('c', 'three', { accountId: 'SA-1' });
  const { sharing } = indexed([first, second, elsewhere], scopedBy(registry));
  assert.equal(sharing(first), ['b/two']);
});

test('ambiguous default matches every scope', () => {
  const registry = registryOf({
    default: { baseUrl: 'https://acme.api.identitynow.com', markedDefault: true },
    sandbox: { baseUrl: 'https://acme-sb.api.identitynow.com', markedDefault: true },
  });
  const implicit = account('a', 'one', { accountId: 'SA-1' });
  const sandbox = account('b', 'two', { accountId: 'SA-1', tenantRef: { name: 'sandbox' } });
  assert.is(registry.claimScope(undefined), undefined);
  const { sharing } = indexed([implicit, sandbox], scopedBy(registry));
  assert.equal(sharing(sandbox), ['a/one']);
});

test.run();
