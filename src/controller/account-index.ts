import type { IscApi } from '../isc/api.ts';
import { eq } from '../isc/filters.ts';
import type { Account } from '../isc/types.ts';

/**
 * All accounts of one source, read in pages once per resync, so that a periodic resync of N
 * resources costs about N/250 list calls instead of N lookups. Reconciles outside a resync
 * (watch events, polling while ISC works) look accounts up one by one, since they need fresh data.
 */
export class AccountIndex {
  private readonly api: IscApi;
  private generation = 0;
  private snapshot:
    | { generation: number; sourceId: string; accounts: Promise<Map<string, Account[]>> }
    | undefined;

  constructor(api: IscApi) {
    this.api = api;
  }

  /** Starts a new resync: the next snapshot lookup reads the source again. */
  invalidate(): void {
    this.generation++;
  }

  /**
   * Finds an account by native identity in this resync's snapshot. ISC compares ids without
   * regard to case, and so does the index. Several matches are returned as they are, for the
   * caller to report.
   */
  async lookup(sourceId: string, nativeIdentity: string): Promise<Account[]> {
    const current = this.snapshot;
    if (current?.generation !== this.generation || current.sourceId !== sourceId) {
      const accounts = this.readAll(sourceId);
      this.snapshot = { generation: this.generation, sourceId, accounts };
      // A failed read must not stay cached: the next lookup tries again.
      accounts.catch(() => {
        if (this.snapshot?.accounts === accounts) this.snapshot = undefined;
      });
    }
    const byId = await this.snapshot!.accounts;
    return byId.get(nativeIdentity.toLowerCase()) ?? [];
  }

  private async readAll(sourceId: string): Promise<Map<string, Account[]>> {
    const byId = new Map<string, Account[]>();
    for await (const account of this.api.list<Account>('accounts', '', {
      filters: eq('sourceId', sourceId),
      sorters: 'id',
    })) {
      const key = account.nativeIdentity.toLowerCase();
      byId.set(key, [...(byId.get(key) ?? []), account]);
    }
    return byId;
  }
}
