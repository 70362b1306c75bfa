import { randomBytes } from 'node:crypto';
import type { IscClient } from './client.ts';
import { IscAmbiguousError, IscApiError, IscTaskTimeoutError, isIscError } from './errors.ts';
import { and, eq, within } from './filters.ts';
import type {
  Account,
  AsyncResult,
  Identity,
  IdentityProfile,
  PersonalAccessToken,
  Reference,
  SchemaAttribute,
  Source,
  SourceSchema,
  TaskStatus,
} from './types.ts';

/** The task of a load-accounts request, polled through task-status. */
export interface LoadAccountsTask {
  id: string;
  completionStatus?: string | null;
}

/** ISC's maximum page size for list endpoints. */
export const pageSize = 250;
/** Account ids looked up in one request (`nativeIdentity in (...)`), about 4 KB of URL. */
export const accountLookupChunk = 100;

/** A JSON Patch operation (RFC 6902), the only body ISC's PATCH endpoints accept. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

/**
 * Typed ISC endpoints used by the operator. Lookups return `undefined` only on 404 or an empty
 * list; every other failure throws, so an outage is never mistaken for absence.
 */
export class IscApi {
  readonly client: IscClient;

  constructor(client: IscClient) {
    this.client = client;
  }

  /**
   * Iterates a list endpoint page by page with a stable sort, skipping ids already seen. With
   * `onPage`, the first page requests the total (X-Total-Count) and each page reports the
   * items read so far; the total is undefined when ISC does not send it.
   */
  async *list<T extends { id: string }>(
    service: string,
    rest: string,
    query: { filters?: string; sorters: string },
    onPage?: (read: number, total: number | undefined) => void,
  ): AsyncGenerator<T> {
    const seen = new Set<string>();
    let total: number | undefined;
    for (let offset = 0; ; offset += pageSize) {
      const count = onPage !== undefined && offset === 0 ? 'true' : undefined;
      const { body, headers } = await this.client.get<T[]>(this.client.path(service, rest), {
        searchParams: {
          limit: pageSize,
          offset,
          filters: query.filters,
          sorters: query.sorters,
          count,
        },
      });
      if (count) {
        const header = Number(headers['x-total-count']);
        total = Number.isSafeInteger(header) && header >= 0 ? header : undefined;
      }
      onPage?.(offset + body.length, total);
      for (const item of body) {
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        yield item;
      }
      if (body.length < pageSize) return;
    }
  }

  async findSourceByName(name: string): Promise<Source | undefined> {
    return this.single<Source>(`sources named "${name}"`, 'sources', eq('name', name), 'name');
  }

  async createDelimitedFileSource(input: {
    name: string;
    description: string;
    owner: Reference;
  }): Promise<Source> {
    const create = async () => {
      const { body } = await this.client.request<Source>('POST', this.client.path('sources'), {
        searchParams: { provisionAsCsv: true },
        json: {
          name: input.name,
          description: input.description,
          owner: input.owner,
          connector: 'delimited-file-angularsc',
        },
      });
      return body;
    };
    return this.createOrFind(create, () => this.findSourceByName(input.name));
  }

  async getAccountSchema(sourceId: string): Promise<SourceSchema | undefined> {
    const { body } = await this.client.get<SourceSchema[]>(
      this.client.path('sources', `/${encodeURIComponent(sourceId)}/schemas`),
      { searchParams: { 'include-names': 'account' } },
    );
    return body.find((schema) => schema.name === 'account');
  }

  async replaceSchema(sourceId: string, schema: SourceSchema): Promise<SourceSchema> {
    const path = `/${encodeURIComponent(sourceId)}/schemas/${encodeURIComponent(schema.id)}`;
    const { body } = await this.client.request<SourceSchema>(
      'PUT',
      this.client.path('sources', path),
      { json: schema },
    );
    return body;
  }

  async findIdentityProfileByName(name: string): Promise<IdentityProfile | undefined> {
    return this.single<IdentityProfile>(
      `identity profiles named "${name}"`,
      'identity-profiles',
      eq('name', name),
      'name',
    );
  }

  async createIdentityProfile(profile: Omit<IdentityProfile, 'id'>): Promise<IdentityProfile> {
    const create = async () => {
      const { body } = await this.client.request<IdentityProfile>(
        'POST',
        this.client.path('identity-profiles'),
        { json: profile },
      );
      return body;
    };
    return this.createOrFind(create, () => this.findIdentityProfileByName(profile.name));
  }

  async patchIdentityProfile(id: string, patch: JsonPatchOperation[]): Promise<IdentityProfile> {
    const { body } = await this.client.request<IdentityProfile>(
      'PATCH',
      this.client.path('identity-profiles', `/${encodeURIComponent(id)}`),
      { body: { contentType: 'application/json-patch+json', data: JSON.stringify(patch) } },
    );
    return body;
  }

  /** Starts ISC's "Apply Changes" for a profile: identities are created or refreshed later. */
  async processIdentityProfile(id: string): Promise<void> {
    await this.client.request(
      'POST',
      this.client.path('identity-profiles', `/${encodeURIComponent(id)}/process-identities`),
    );
  }

  /** Finds an account by its native identity (the CSV `id` column) on one source. */
  async findAccount(sourceId: string, nativeIdentity: string): Promise<Account | undefined> {
    const filters = and(eq('sourceId', sourceId), eq('nativeIdentity', nativeIdentity));
    return this.single<Account>(
      `accounts with id "${nativeIdentity}" on source ${sourceId}`,
      'accounts',
      filters,
      'id',
    );
  }

  /**
   * Reads the accounts of a source with any of `nativeIdentities` (at most 100, which keeps the
   * URL near 4 KB), grouped by lower-cased native identity, since ISC compares them without
   * regard to case. Several accounts under one id are returned as they are, for the caller.
   */
  async findAccounts(
    sourceId: string,
    nativeIdentities: readonly string[],
  ): Promise<Map<string, Account[]>> {
    if (nativeIdentities.length > accountLookupChunk) {
      throw new RangeError(`at most ${accountLookupChunk} account ids per request`);
    }
    const found = new Map<string, Account[]>();
    const filters = and(eq('sourceId', sourceId), within('nativeIdentity', nativeIdentities));
    for await (const account of this.list<Account>('accounts', '', { filters, sorters: 'id' })) {
      const key = account.nativeIdentity.toLowerCase();
      found.set(key, [...(found.get(key) ?? []), account]);
    }
    return found;
  }

  /** Asks ISC to create an account; it appears asynchronously, so callers poll `findAccount`. */
  async createAccount(sourceId: string, attributes: Record<string, string>): Promise<AsyncResult> {
    const { body } = await this.client.request<AsyncResult>('POST', this.client.path('accounts'), {
      json: { attributes: { ...attributes, sourceId } },
    });
    return body ?? {};
  }

  /** Replaces a flat-file account's attributes; ISC applies the change asynchronously. */
  async updateAccount(accountId: string, attributes: Record<string, string>): Promise<void> {
    await this.client.request(
      'PUT',
      this.client.path('accounts', `/${encodeURIComponent(accountId)}`),
      {
        json: { attributes },
      },
    );
  }

  /** Asks ISC to delete a flat-file account; returns false when it was already gone. */
  async deleteAccount(accountId: string): Promise<boolean> {
    try {
      await this.client.request(
        'DELETE',
        this.client.path('accounts', `/${encodeURIComponent(accountId)}`),
      );
      return true;
    } catch (error) {
      if (error instanceof IscApiError && error.kind === 'not-found') return false;
      throw error;
    }
  }

  /**
   * Uploads a complete account file to a delimited-file source (load-accounts), a full
   * aggregation: accounts the file leaves out are removed, within the source's deleteThreshold.
   * The file part carries `csvText` byte for byte. `disableOptimization` true makes ISC write
   * every row, also rows equal to the ones the previous upload wrote. Returns the task to poll.
   */
  async loadAccounts(
    sourceId: string,
    csvText: string,
    options: { disableOptimization: boolean },
  ): Promise<LoadAccountsTask> {
    const file = Buffer.from(csvText, 'utf8');
    let boundary = `isc-sa-operator-${randomBytes(12).toString('hex')}`;
    while (file.includes(boundary)) boundary = `isc-sa-operator-${randomBytes(12).toString('hex')}`;
    const part = (headers: string) => Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`);
    const data = Buffer.concat([
      part('Content-Disposition: form-data; name="disableOptimization"'),
      Buffer.from(`${options.disableOptimization}\r\n`),
      part(
        'Content-Disposition: form-data; name="file"; filename="accounts.csv"\r\nContent-Type: text/csv',
      ),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const { body } = await this.client.request<{ task?: LoadAccountsTask }>(
      'POST',
      this.client.path('sources', `/${encodeURIComponent(sourceId)}/load-accounts`),
      { body: { contentType: `multipart/form-data; boundary=${boundary}`, data } },
    );
    if (!body?.task?.id) throw new Error('load-accounts response has no task id');
    return body.task;
  }

  /**
   * Polls a task until ISC marks it completed, with delays from `initialDelayMs` doubling up to
   * `maxDelayMs`, and throws IscTaskTimeoutError after `deadlineMs`. Returns the final status,
   * whose completionStatus the caller judges (WARNING and ERROR are not thrown).
   */
  async waitForTask(
    taskId: string,
    options: { deadlineMs?: number; initialDelayMs?: number; maxDelayMs?: number } = {},
  ): Promise<TaskStatus> {
    const deadlineMs = options.deadlineMs ?? 300_000;
    const maxDelayMs = options.maxDelayMs ?? 10_000;
    const started = Date.now();
    let delayMs = options.initialDelayMs ?? 500;
    for (;;) {
      const { body: task } = await this.client.get<TaskStatus>(
        this.client.path('task-status', `/${encodeURIComponent(taskId)}`),
      );
      if (task.completed || task.completionStatus) return task;

      const remainingMs = deadlineMs - (Date.now() - started);
      if (remainingMs <= 0) throw new IscTaskTimeoutError(taskId, Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, Math.min(delayMs, remainingMs)));
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }

  /**
   * Asks ISC to send its invitation mail to identities. The endpoint is experimental in ISC, so
   * it needs the X-SailPoint-Experimental header; ISC mails only unregistered identities.
   */
  async inviteIdentities(identityIds: string[]): Promise<void> {
    await this.client.request('POST', this.client.path('identities', '/invite'), {
      json: { ids: identityIds, uninvited: false },
      headers: { 'X-SailPoint-Experimental': 'true' },
    });
  }

  /**
   * Creates a personal access token owned by the caller's identity; the secret is returned only
   * here. `validForDays` undefined makes a PAT that never expires.
   */
  async createPersonalAccessToken(input: {
    name: string;
    scopes: string[] | undefined;
    accessTokenValiditySeconds: number | undefined;
    expirationDate: string | undefined;
  }): Promise<{ id: string; secret: string; expirationDate?: string | null }> {
    const { body } = await this.client.request<{
      id: string;
      secret: string;
      expirationDate?: string | null;
    }>('POST', this.client.path('personal-access-tokens'), {
      json: {
        name: input.name,
        ...(input.scopes ? { scope: input.scopes } : {}),
        ...(input.accessTokenValiditySeconds
          ? { accessTokenValiditySeconds: input.accessTokenValiditySeconds }
          : {}),
        ...(input.expirationDate
          ? { expirationDate: input.expirationDate }
          : { userAwareTokenNeverExpires: true }),
      },
    });
    return body;
  }

  /** Lists the personal access tokens of the caller's own identity. */
  async listOwnPersonalAccessTokens(): Promise<PersonalAccessToken[]> {
    const { body } = await this.client.get<PersonalAccessToken[]>(
      this.client.path('personal-access-tokens'),
      { searchParams: { 'owner-id': 'me' } },
    );
    return body;
  }

  /**
   * Lists the personal access tokens of another identity. ISC allows this with the right
   * `idn:all-personal-access-tokens:read` (scope `sp:all-personal-access-tokens:read`) and
   * returns 403 without it. The list is not paged.
   */
  async listPersonalAccessTokensOf(identityId: string): Promise<PersonalAccessToken[]> {
    const { body } = await this.client.get<PersonalAccessToken[]>(
      this.client.path('personal-access-tokens'),
      { searchParams: { 'owner-id': identityId } },
    );
    return body;
  }

  /**
   * Replaces the scopes of one of the caller's PATs. ISC applies them to access tokens issued
   * later, after a delay it documents as up to 20 minutes; tokens issued before keep theirs.
   */
  async setPersonalAccessTokenScopes(id: string, scopes: string[]): Promise<void> {
    await this.client.request(
      'PATCH',
      this.client.path('personal-access-tokens', `/${encodeURIComponent(id)}`),
      {
        body: {
          contentType: 'application/json-patch+json',
          data: JSON.stringify([{ op: 'replace', path: '/scope', value: scopes }]),
        },
      },
    );
  }

  /** Deletes a personal access token; returns false when it was already gone. */
  async deletePersonalAccessToken(id: string): Promise<boolean> {
    try {
      await this.client.request(
        'DELETE',
        this.client.path('personal-access-tokens', `/${encodeURIComponent(id)}`),
      );
      return true;
    } catch (error) {
      if (error instanceof IscApiError && error.kind === 'not-found') return false;
      throw error;
    }
  }

  /** Replaces an identity's user levels; ISC takes the whole capability list on each update. */
  async setAuthUserCapabilities(identityId: string, capabilities: string[]): Promise<void> {
    await this.client.request(
      'PATCH',
      this.client.path('auth-users', `/${encodeURIComponent(identityId)}`),
      {
        body: {
          contentType: 'application/json-patch+json',
          data: JSON.stringify([{ op: 'replace', path: '/capabilities', value: capabilities }]),
        },
      },
    );
  }

  /** Returns the user levels (capabilities) of an identity, or undefined if it has no login. */
  async getAuthUserCapabilities(identityId: string): Promise<string[] | undefined> {
    const authUser = await this.getOrUndefined<{ capabilities?: string[] | null }>(
      this.client.path('auth-users', `/${encodeURIComponent(identityId)}`),
    );
    return authUser === undefined ? undefined : (authUser.capabilities ?? []);
  }

  async getIdentity(id: string): Promise<Identity | undefined> {
    return this.getOrUndefined<Identity>(
      this.client.path('identities', `/${encodeURIComponent(id)}`),
    );
  }

  /**
   * Reads several identities with one request (`id in (...)`, at most one page), uncorrelated
   * ones included. Ids ISC does not know are missing from the map.
   */
  async getIdentities(ids: readonly string[]): Promise<Map<string, Identity>> {
    if (ids.length > pageSize) throw new RangeError(`at most ${pageSize} identities per request`);
    const { body } = await this.client.get<Identity[]>(this.client.path('identities'), {
      searchParams: {
        limit: pageSize,
        filters: within('id', ids),
        defaultFilter: 'NONE',
      },
    });
    return new Map(body.map((identity) => [identity.id, identity]));
  }

  async getIdentityName(id: string): Promise<string | undefined> {
    return (await this.getIdentity(id))?.name;
  }

  /** Returns the only match, undefined for none, and throws IscAmbiguousError for several. */
  private async single<T extends { id: string }>(
    what: string,
    service: string,
    filters: string,
    sorters: string,
  ): Promise<T | undefined> {
    const { body } = await this.client.get<T[]>(this.client.path(service), {
      searchParams: { limit: 2, filters, sorters },
    });
    if (body.length > 1)
      throw new IscAmbiguousError(
        what,
        body.map((item) => item.id),
      );
    return body[0];
  }

  /**
   * Runs a synchronous create (201). When it fails without a clear response (timeout, dropped
   * connection, 5xx) the create may still have happened, so `lookup` decides: the object found
   * is returned, and only a confirmed absence lets the error through for a later retry.
   */
  private async createOrFind<T>(
    create: () => Promise<T>,
    lookup: () => Promise<T | undefined>,
  ): Promise<T> {
    try {
      return await create();
    } catch (error) {
      if (!isIscError(error) || error.kind !== 'transient') throw error;
      const found = await lookup();
      if (found !== undefined) return found;
      throw error;
    }
  }

  private async getOrUndefined<T>(path: string): Promise<T | undefined> {
    try {
      return (await this.client.get<T>(path)).body;
    } catch (error) {
      if (error instanceof IscApiError && error.kind === 'not-found') return undefined;
      throw error;
    }
  }
}

export type { SchemaAttribute };
