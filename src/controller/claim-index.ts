import type { ServiceAccount } from '../kube/types.ts';

/**
 * Index of the resources that claim one ISC account, by account id or account name (ISC
 * compares both without regard to case), so that no lookup scans every resource. Every
 * reconcile uses it. A scan of the informer made the work grow with N squared, and at 10,000
 * resources the scans took a third of the operator's CPU.
 *
 * The index follows the informer's add, update and delete events. Callers get the cached
 * objects back and still compare their fields, so an entry that lags behind the cache can
 * only cost a comparison, never hide a claim the events reported.
 */
export class ClaimIndex {
  private readonly holders = new Map<string, Set<string>>();
  private readonly claimsOf = new Map<string, readonly string[]>();
  private readonly lookup: (key: string) => ServiceAccount | undefined;

  /** `lookup` returns the informer's current object for a `namespace/name` key. */
  constructor(lookup: (key: string) => ServiceAccount | undefined) {
    this.lookup = lookup;
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
   * Returns the other cached resources that share the account id or the account name of `resource`.
   * Callers decide which of them wins; the resource itself is left out by uid.
   */
  sharing(resource: ServiceAccount): ServiceAccount[] {
    const keys = new Set<string>();
    for (const claim of claimsOf(resource)) {
      for (const key of this.holders.get(claim) ?? []) keys.add(key);
    }
    const found: ServiceAccount[] = [];
    for (const key of keys) {
      const peer = this.lookup(key);
      if (peer && claimsSameAccount(resource, peer)) found.push(peer);
    }
    return found;
  }

  get size(): number {
    return this.claimsOf.size;
  }
}

/** True when the two resources are different objects that claim one ISC account. */
export function claimsSameAccount(resource: ServiceAccount, peer: ServiceAccount): boolean {
  if (resource.metadata.uid === peer.metadata.uid) return false;
  const accountId = resource.spec.accountId?.toLowerCase();
  return (
    (accountId !== undefined && peer.spec.accountId?.toLowerCase() === accountId) ||
    accountName(peer).toLowerCase() === accountName(resource).toLowerCase()
  );
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
