import type { ServiceAccount } from '../kube/types.ts';

/**
 * Scope of a claim. An account id or name must be unique on one source of one ISC tenant, and
 * may repeat on another source or in another ISC tenant. `undefined` is an unknown scope (no
 * tenant resolves), which counts as equal to every other scope.
 */
export type ClaimScope = string | undefined;

/**
 * Returns the scope of the accounts on the source `sourceName` of the ISC tenant at `baseUrl`.
 * Two Tenant resources that point at the same source share it. The host and the source name
 * are compared without regard to case, because ISC's filters compare most strings that way.
 */
export function sourceScope(baseUrl: string, sourceName: string): string {
  let root = baseUrl.trim();
  try {
    const url = new URL(root);
    root = `${url.origin}${url.pathname}`;
  } catch {
    // An invalid URL never connects; it still gets a scope of its own.
  }
  return `source:${root.replace(/\/+$/, '')}|${sourceName.toLowerCase()}`;
}

/** Returns the scope of a Tenant whose address and source are not known (yet). */
export function tenantScope(tenantName: string): string {
  return `tenant:${tenantName}`;
}

/**
 * Index of the resources that claim one ISC account, by account id or account name (ISC
 * compares both without regard to case), so that no lookup scans every resource. Every
 * reconcile uses it. A scan of the informer made the work grow with N squared, and at 10,000
 * resources the scans took a third of the operator's CPU.
 *
 * The index follows the informer's add, update and delete events. Callers get the cached
 * objects back and still compare their fields, so an entry that lags behind the cache can
 * only cost a comparison, never hide a claim the events reported.
 *
 * Claims compete only within one scope (see `ClaimScope`). The index groups claims by id and
 * name alone and compares scopes when it is asked, because the scope of a resource without
 * spec.tenantRef follows the default Tenant and the Tenant's source, which change with no
 * event on the resource. So a changed scope never leaves a claim in a stale group.
 */
export class ClaimIndex {
  private readonly holders = new Map<string, Set<string>>();
  private readonly claimsOf = new Map<string, readonly string[]>();
  private readonly lookup: (key: string) => ServiceAccount | undefined;
  private readonly scopeOf: (resource: ServiceAccount) => ClaimScope;

  /**
   * `lookup` returns the informer's current object for a `namespace/name` key, and `scopeOf`
   * the scope that the resource's tenant currently resolves to.
   */
  constructor(
    lookup: (key: string) => ServiceAccount | undefined,
    scopeOf: (resource: ServiceAccount) => ClaimScope,
  ) {
    this.lookup = lookup;
    this.scopeOf = scopeOf;
  }

  /** Records the resource's claims, replacing those of its earlier version. */
  set(resource: ServiceAccount): void {
    const key = resourceKey(resource);
    const claims = claimsOf(resource);
    const previous = this.claimsOf.get(key);
    if (previous && previous.join('\n') === claims.join('\n')) return;
    this.remove(resource);
    this.claimsOf.set(key, claims);
    for (const claim of claims) {
      let keys = this.holders.get(claim);
      if (!keys) {
        keys = new Set();
        this.holders.set(claim, keys);
      }
      keys.add(key);
    }
  }

  remove(resource: ServiceAccount): void {
    const key = resourceKey(resource);
    for (const claim of this.claimsOf.get(key) ?? []) {
      const keys = this.holders.get(claim);
      keys?.delete(key);
      if (keys?.size === 0) this.holders.delete(claim);
    }
    this.claimsOf.delete(key);
  }

  /**
   * Returns the other cached resources that share the account id or the account name of
   * `resource` in its scope. Callers decide which of them wins; the resource itself is left
   * out by uid.
   */
  sharing(resource: ServiceAccount): ServiceAccount[] {
    const keys = new Set<string>();
    for (const claim of claimsOf(resource)) {
      for (const key of this.holders.get(claim) ?? []) keys.add(key);
    }
    const scope = this.scopeOf(resource);
    const found: ServiceAccount[] = [];
    for (const key of keys) {
      const peer = this.lookup(key);
      if (!peer || !claimsSameAccount(resource, peer)) continue;
      if (sameScope(scope, this.scopeOf(peer))) found.push(peer);
    }
    return found;
  }

  get size(): number {
    return this.claimsOf.size;
  }
}

/**
 * True when the two resources are different objects that claim the same account id or name.
 * Their scopes are not compared here: `ClaimIndex.sharing` does that.
 */
export function claimsSameAccount(resource: ServiceAccount, peer: ServiceAccount): boolean {
  if (resource.metadata.uid === peer.metadata.uid) return false;
  const accountId = resource.spec.accountId?.toLowerCase();
  return (
    (accountId !== undefined && peer.spec.accountId?.toLowerCase() === accountId) ||
    accountName(peer).toLowerCase() === accountName(resource).toLowerCase()
  );
}

/**
 * Compares two claim scopes. An unknown scope matches every scope, so a claim whose tenant
 * cannot be resolved (several Tenants marked as default) still blocks a younger one.
 */
function sameScope(scope: ClaimScope, other: ClaimScope): boolean {
  return scope === undefined || other === undefined || scope === other;
}

function claimsOf(resource: ServiceAccount): string[] {
  const claims = [`name:${accountName(resource).toLowerCase()}`];
  if (resource.spec.accountId !== undefined) {
    claims.push(`id:${resource.spec.accountId.toLowerCase()}`);
  }
  return claims;
}

function accountName(resource: ServiceAccount): string {
  return resource.spec.name ?? resource.metadata.name;
}

function resourceKey(resource: ServiceAccount): string {
  return `${resource.metadata.namespace}/${resource.metadata.name}`;
}
