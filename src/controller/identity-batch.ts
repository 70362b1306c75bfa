import type { Logger } from 'pino';
import { accountLookupChunk, type IscApi } from '../isc/api.ts';
import type { Account, Identity } from '../isc/types.ts';

/** Identities read in one request (`id in (...)`), which keeps its URL near 4 KB. */
export const identityReadChunk = 100;
/** Identities invited in one request. */
export const invitationChunk = 250;

/** The result of an identity read for one reconcile. */
export type IdentityRead =
  | { state: 'read'; identity: Identity | undefined }
  | { state: 'pending' }
  | { state: 'failed'; error: unknown };

/** The result of an account lookup for one reconcile: every account under the id. */
export type AccountRead =
  | { state: 'read'; accounts: Account[] }
  | { state: 'pending' }
  | { state: 'failed'; error: unknown };

/** An invitation whose request failed. */
export interface InvitationFailure {
  error: unknown;
  /** Opaque value the reconcile handed over with the invitation, to undo its status marker. */
  context: unknown;
}

export interface IdentityBatchOptions {
  api: IscApi;
  /** Queues these resource keys for another reconcile. */
  wake: (keys: readonly string[]) => void;
  /**
   * How long the batch waits for one more request before it sends what it has. While requests
   * keep coming it waits on, up to maxWaitMs after the first, or until a request is full.
   */
  windowMs: number;
  maxWaitMs: number;
  logger: Logger;
}

interface Waiting {
  keys: Set<string>;
  /** For an account lookup: the id as the first resource spelled it, which is what is sent. */
  nativeIdentity?: string;
}

interface PendingInvitation {
  key: string;
  context: unknown;
}

/**
 * Collects the identity reads, account lookups and invitations of many reconciles of one tenant
 * and sends them in bulk: one `GET /identities?filters=id in (...)` per 100 identities, one
 * `GET /accounts?filters=sourceId eq ... and nativeIdentity in (...)` per 100 account ids, and
 * one `POST /identities/invite` per 250. identity() and account() return at once, so a
 * reconcile ends with `pending` and is queued again when the request it joined has completed.
 * In the benchmark, 1,000 new accounts in csv mode cost 13 identity reads and 5 invitation
 * requests.
 */
export class IdentityBatch {
  private readonly options: IdentityBatchOptions;
  private readonly waitingReads = new Map<string, Waiting>();
  /** Reads sent and still without a response. A key that requests one of them meanwhile joins it. */
  private readonly inFlightReads = new Map<string, Waiting>();
  /** Read results not yet taken, each for one reconcile of each key that requested it. */
  private readonly results = new Map<string, { read: IdentityRead | AccountRead; at: number }>();
  private readonly queuedInvitations = new Map<string, PendingInvitation>();
  private readonly failedInvitations = new Map<string, InvitationFailure>();
  private timer: NodeJS.Timeout | undefined;
  /** When the oldest request still waiting to be sent arrived. */
  private firstWaitingAt: number | undefined;
  private closed = false;

  constructor(options: IdentityBatchOptions) {
    this.options = options;
  }

  /**
   * Returns the identity read for this reconcile of `key`, or `pending` after joining the next
   * request. Each result serves one reconcile only, so the next one reads ISC afresh.
   */
  identity(identityId: string, key: string): IdentityRead {
    return this.request(`${identityRead}${identityId}`, key) as IdentityRead;
  }

  /**
   * Returns the accounts under `nativeIdentity` on the source for this reconcile of `key`, or
   * `pending` after joining the next lookup. As with identities, each result serves one
   * reconcile, and it was read after that reconcile asked.
   */
  account(sourceId: string, nativeIdentity: string, key: string): AccountRead {
    const readId = `${accountRead}${sourceId}\n${nativeIdentity.toLowerCase()}`;
    return this.request(readId, key, nativeIdentity) as AccountRead;
  }

  private request(
    readId: string,
    key: string,
    nativeIdentity?: string,
  ): IdentityRead | AccountRead {
    const resultKey = `${key}\n${readId}`;
    const result = this.results.get(resultKey);
    if (result) {
      this.results.delete(resultKey);
      return result.read;
    }
    const inFlight = this.inFlightReads.get(readId);
    if (inFlight) {
      inFlight.keys.add(key);
      return { state: 'pending' };
    }
    const waiting = this.waitingReads.get(readId) ?? { keys: new Set<string>(), nativeIdentity };
    waiting.keys.add(key);
    this.waitingReads.set(readId, waiting);
    this.schedule();
    return { state: 'pending' };
  }

  /**
   * Queues an invitation for the next request. If that request fails, `context` comes back with
   * the failure through takeInvitationFailure.
   */
  invite(identityId: string, key: string, context: unknown): void {
    this.failedInvitations.delete(identityId);
    this.queuedInvitations.set(identityId, { key, context });
    this.schedule();
  }

  /** Returns, once, why the invitation of this identity could not be sent. */
  takeInvitationFailure(identityId: string): InvitationFailure | undefined {
    const failure = this.failedInvitations.get(identityId);
    this.failedInvitations.delete(identityId);
    return failure;
  }

  /** Stops sending; queued work is dropped, and the resources' next reconciles ask again. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const full =
      this.waitingReads.size >= Math.min(identityReadChunk, accountLookupChunk) ||
      this.queuedInvitations.size >= invitationChunk;
    const now = Date.now();
    this.firstWaitingAt ??= now;
    const deadline = this.firstWaitingAt + this.options.maxWaitMs;
    const delay = full ? 0 : Math.max(0, Math.min(this.options.windowMs, deadline - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.firstWaitingAt = undefined;
      void this.flush();
    }, delay);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.forgetOldResults();
    const identityReads: Array<[string, Waiting]> = [];
    const lookupsBySource = new Map<string, Array<[string, Waiting]>>();
    for (const [readId, waiting] of this.waitingReads) {
      if (readId.startsWith(identityRead)) {
        identityReads.push([readId, waiting]);
        continue;
      }
      const sourceId = readId.slice(accountRead.length, readId.indexOf('\n', accountRead.length));
      const lookups = lookupsBySource.get(sourceId) ?? [];
      lookups.push([readId, waiting]);
      lookupsBySource.set(sourceId, lookups);
    }
    this.waitingReads.clear();
    const invitations = [...this.queuedInvitations.entries()];
    this.queuedInvitations.clear();
    await Promise.all([
      ...chunks(identityReads, identityReadChunk).map((chunk) => this.read(chunk)),
      ...[...lookupsBySource].flatMap(([sourceId, lookups]) =>
        chunks(lookups, accountLookupChunk).map((chunk) => this.lookUp(sourceId, chunk)),
      ),
      ...chunks(invitations, invitationChunk).map((chunk) => this.sendInvitations(chunk)),
    ]);
  }

  private async read(chunk: Array<[string, Waiting]>): Promise<void> {
    const ids = chunk.map(([readId]) => readId.slice(identityRead.length));
    await this.settle(chunk, async () => {
      const found = await this.options.api.getIdentities(ids);
      return (readId) => ({
        state: 'read',
        identity: found.get(readId.slice(identityRead.length)),
      });
    });
  }

  private async lookUp(sourceId: string, chunk: Array<[string, Waiting]>): Promise<void> {
    const prefix = `${accountRead}${sourceId}\n`;
    const nativeIdentities = chunk.map(
      ([readId, waiting]) => waiting.nativeIdentity ?? readId.slice(prefix.length),
    );
    await this.settle(chunk, async () => {
      const found = await this.options.api.findAccounts(sourceId, nativeIdentities);
      return (readId) => ({
        state: 'read',
        accounts: found.get(readId.slice(prefix.length)) ?? [],
      });
    });
  }

  /**
   * Sends one bulk read for `chunk`, keeps its result for each key that requested it, and wakes
   * those keys. A failed read becomes each key's result too, so that its reconcile reports it.
   */
  private async settle(
    chunk: Array<[string, Waiting]>,
    send: () => Promise<(readId: string) => IdentityRead | AccountRead>,
  ): Promise<void> {
    for (const [readId, waiting] of chunk) this.inFlightReads.set(readId, waiting);
    let resultOf: ((readId: string) => IdentityRead | AccountRead) | undefined;
    let error: unknown;
    try {
      resultOf = await send();
    } catch (caught) {
      error = caught;
      this.options.logger.warn({ err: caught, reads: chunk.length }, 'a bulk read failed');
    }
    const at = Date.now();
    const keys: string[] = [];
    for (const [readId, waiting] of chunk) {
      this.inFlightReads.delete(readId);
      const read = resultOf ? resultOf(readId) : { state: 'failed' as const, error };
      for (const key of waiting.keys) {
        this.results.set(`${key}\n${readId}`, { read, at });
        keys.push(key);
      }
    }
    this.options.wake(keys);
  }

  /**
   * Sends one invitation request and does not resend it on failure, because a request that timed
   * out or got a 5xx may still have mailed the invitations. The ISC client already resends what
   * provably did not arrive. The failure goes to each resource's next reconcile, which decides
   * what its status should say.
   */
  private async sendInvitations(chunk: Array<[string, PendingInvitation]>): Promise<void> {
    const ids = chunk.map(([id]) => id);
    try {
      await this.options.api.inviteIdentities(ids);
    } catch (error) {
      this.options.logger.error(
        { err: error, identities: ids.length },
        'a batch of invitations failed',
      );
      for (const [id, pending] of chunk) {
        this.failedInvitations.set(id, { error, context: pending.context });
      }
      this.options.wake(chunk.map(([, pending]) => pending.key));
    }
  }

  /** Drops results no reconcile took within ten minutes, e.g. of deleted resources. */
  private forgetOldResults(): void {
    const cutoff = Date.now() - 600_000;
    for (const [resultKey, result] of this.results) {
      if (result.at < cutoff) this.results.delete(resultKey);
    }
  }
}

/** Prefixes of the two kinds of reads in one map. */
const identityRead = 'identity\n';
const accountRead = 'account\n';

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    result.push(items.slice(start, start + size));
  }
  return result;
}
