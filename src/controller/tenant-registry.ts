import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { IscApi } from '../isc/api.ts';
import type { IscApiVersion, IscCallObserver } from '../isc/client.ts';
import { IscClient } from '../isc/client.ts';
import { defaultAllowedUserLevels } from '../isc/user-levels.ts';
import { AccountIndex } from './account-index.ts';
import { type ClaimScope, tenantScope } from './claim-index.ts';
import { TenantSetup } from './tenant.ts';

/** Everything needed to reach one tenant: where, as whom, and which source and profile. */
export interface TenantSettings {
  baseUrl: string;
  apiVersion: IscApiVersion;
  clientId: string;
  clientSecret: string;
  /** Source of the client id and secret, such as `Secret ns/name`, named when ISC rejects them. */
  credential?: string | undefined;
  sourceName: string;
  identityProfileName: string;
  ownerIdentityId: string | undefined;
  rateLimitPer10s: number;
  /** User levels ServiceAccounts may request; undefined means all but ORG_ADMIN. */
  allowedUserLevels?: string[] | undefined;
  /** api (default) or csv: one account file upload per batch. */
  syncMode?: 'api' | 'csv' | undefined;
  /** csv mode: how long changes are collected before one upload. */
  batchWindowSeconds?: number | undefined;
  /** csv mode: largest share of the source's accounts one upload may remove, in percent. */
  deleteGuardPercent?: number | undefined;
  /** csv mode: namespace of the ConfigMap that keeps the last uploaded file. */
  fileNamespace?: string | undefined;
}

/** How a csv-mode tenant batches its uploads. */
export interface CsvSyncSettings {
  batchWindowMs: number;
  maxDeletePercent: number;
  fileNamespace: string | undefined;
}

/** A live connection to one tenant, shared by every resource that names it. */
export interface TenantConnection {
  name: string;
  /** Digest of the settings, to tell when a Tenant or its Secret changed. */
  fingerprint: string;
  client: IscClient;
  api: IscApi;
  setup: TenantSetup;
  accounts: AccountIndex;
  allowedUserLevels: ReadonlySet<string>;
  /** Set in csv sync mode; undefined in api mode. */
  csv: CsvSyncSettings | undefined;
}

export interface TenantEntry {
  connection: TenantConnection | undefined;
  ready: boolean;
  /** Reason the tenant is not ready, for the ServiceAccounts that wait on it. */
  reason: string;
  message: string;
  /** Marked isc.sailpoint/default-tenant="true". */
  markedDefault: boolean;
  /** Scope of the claims of its ServiceAccounts: its ISC tenant and source (see sourceScope). */
  sourceScope?: string | undefined;
}

export type TenantResolution =
  | { ok: true; name: string; connection: TenantConnection }
  | { ok: false; name: string | undefined; reason: string; message: string };

export interface ConnectionOptions {
  logger: Logger;
  observer?: IscCallObserver;
  cacheTtlMs: number;
  identityProcessingIntervalMs: number;
}

/** Digest of tenant settings; the secret enters only through the hash. */
export function fingerprintOf(settings: TenantSettings): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

export function connectTenant(
  name: string,
  settings: TenantSettings,
  options: ConnectionOptions,
): TenantConnection {
  const logger = options.logger.child({ tenant: name });
  const client = new IscClient({
    baseUrl: settings.baseUrl,
    apiVersion: settings.apiVersion,
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    credential: settings.credential,
    rateLimit: settings.rateLimitPer10s,
    rateLimitWindowMs: 10_000,
    logger: logger.child({ component: 'isc-client' }),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const api = new IscApi(client);
  const setup = new TenantSetup(
    api,
    {
      sourceName: settings.sourceName,
      identityProfileName: settings.identityProfileName,
      ...(settings.ownerIdentityId ? { ownerIdentityId: settings.ownerIdentityId } : {}),
      cacheTtlMs: options.cacheTtlMs,
      identityProcessingIntervalMs: options.identityProcessingIntervalMs,
    },
    logger.child({ component: 'tenant' }),
  );
  return {
    name,
    fingerprint: fingerprintOf(settings),
    client,
    api,
    setup,
    accounts: new AccountIndex(api),
    allowedUserLevels: new Set(settings.allowedUserLevels ?? defaultAllowedUserLevels),
    csv:
      settings.syncMode === 'csv'
        ? {
            batchWindowMs: (settings.batchWindowSeconds ?? 10) * 1000,
            maxDeletePercent: settings.deleteGuardPercent ?? 10,
            fileNamespace: settings.fileNamespace,
          }
        : undefined,
  };
}

/**
 * The tenants this operator serves, by name, with their readiness. ServiceAccounts resolve
 * their spec.tenantRef here; an empty reference means the Tenant marked as default, else the
 * one named "default".
 */
export class TenantRegistry {
  private readonly entries = new Map<string, TenantEntry>();
  private readonly listeners: Array<(name: string) => void> = [];

  /** Stores a tenant's entry; listeners hear of it only when readiness or connection changed. */
  set(name: string, entry: TenantEntry): void {
    const previous = this.entries.get(name);
    this.entries.set(name, entry);
    const changed =
      previous === undefined ||
      previous.ready !== entry.ready ||
      previous.markedDefault !== entry.markedDefault ||
      previous.connection !== entry.connection ||
      previous.sourceScope !== entry.sourceScope;
    if (changed) for (const listener of this.listeners) listener(name);
  }

  get(name: string): TenantEntry | undefined {
    return this.entries.get(name);
  }

  delete(name: string): void {
    if (!this.entries.delete(name)) return;
    for (const listener of this.listeners) listener(name);
  }

  /** Registers a callback for every change of a tenant's entry. */
  onChange(listener: (name: string) => void): void {
    this.listeners.push(listener);
  }

  /** Starts a resync everywhere: every tenant's account snapshot is read again on next use. */
  invalidateAccountSnapshots(): void {
    for (const entry of this.entries.values()) entry.connection?.accounts.invalidate();
  }

  /** Sum of requests waiting for the rate limiters of all tenants. */
  get queueDepth(): number {
    let depth = 0;
    for (const entry of this.entries.values()) depth += entry.connection?.client.queueDepth ?? 0;
    return depth;
  }

  resolve(reference: string | undefined): TenantResolution {
    const name = reference ?? this.defaultName();
    if (name === undefined) {
      return {
        ok: false,
        name,
        reason: 'TenantNotFound',
        message:
          'several Tenants carry the annotation isc.sailpoint/default-tenant="true"; keep it ' +
          'on one Tenant only',
      };
    }
    const entry = this.entries.get(name);
    if (!entry) {
      return {
        ok: false,
        name,
        reason: 'TenantNotFound',
        message:
          `Tenant "${name}" does not exist. Create it, or, since spec.tenantRef is immutable, ` +
          'delete this resource and create it again with another spec.tenantRef',
      };
    }
    if (!entry.ready || !entry.connection) {
      return {
        ok: false,
        name,
        reason: 'TenantNotReady',
        message: `Tenant "${name}" is not ready (${entry.reason}): ${entry.message}`,
      };
    }
    return { ok: true, name, connection: entry.connection };
  }

  /**
   * Returns the scope in which a ServiceAccount's account id and name must be unique: the
   * source of the Tenant that `reference` resolves to, as resolve() resolves it. A Tenant whose
   * source is not known yet, or one that does not exist, is a scope by its name. Undefined when
   * the reference is empty and several Tenants are marked as default.
   */
  claimScope(reference: string | undefined): ClaimScope {
    const name = reference ?? this.defaultName();
    if (name === undefined) return undefined;
    return this.entries.get(name)?.sourceScope ?? tenantScope(name);
  }

  /** Returns the default tenant's name, or undefined when the default marker is ambiguous. */
  private defaultName(): string | undefined {
    const marked = [...this.entries].filter(([, entry]) => entry.markedDefault);
    if (marked.length > 1) return undefined;
    return marked[0]?.[0] ?? 'default';
  }
}
