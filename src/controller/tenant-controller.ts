import { type KubeConfig, makeInformer } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import {
  isConflict,
  SecretUnusableError,
  ServiceAccountResources,
  TenantResources,
} from '../kube/client.ts';
import { EventRecorder } from '../kube/events.ts';
import { startInformerOnce } from '../kube/informers.ts';
import {
  defaultTenantAnnotation,
  group,
  type Tenant,
  type TenantStatus,
  tenantPlural,
  version,
} from '../kube/types.ts';
import { sourceScope } from './claim-index.ts';
import { findCondition, setCondition } from './conditions.ts';
import { classifyFailure } from './errors.ts';
import { WorkQueue } from './queue.ts';
import {
  type ConnectionOptions,
  connectTenant,
  fingerprintOf,
  type TenantConnection,
  type TenantEntry,
  type TenantRegistry,
  type TenantSettings,
} from './tenant-registry.ts';

export interface TenantControllerOptions {
  kubeConfig: KubeConfig;
  registry: TenantRegistry;
  connection: ConnectionOptions;
  /** Period of the preflight and source/profile check of a ready tenant, in ms. */
  resyncMs: number;
  logger: Logger;
}

/** A Tenant whose credentials Secret is missing or incomplete. */
class SecretProblem extends Error {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * Watches Tenant resources, connects to each tenant with the credential from its Secret, checks
 * the credential (preflight), ensures the source and identity profile, and publishes the result
 * in the registry and in the Tenant's status. A changed Tenant or rotated Secret gives a new
 * connection at the next reconcile.
 */
export class TenantController {
  private readonly options: TenantControllerOptions;
  private readonly tenants: TenantResources;
  private readonly secrets: ServiceAccountResources;
  private readonly informer;
  private readonly queue = new WorkQueue({ baseDelayMs: 2_000, maxDelayMs: 300_000 });
  private readonly logger: Logger;
  private readonly events: EventRecorder;
  private worker: Promise<void> | undefined;
  private stopped = false;
  private readonly reconciledOnce = new Set<string>();
  synced = false;

  constructor(options: TenantControllerOptions) {
    this.options = options;
    this.logger = options.logger.child({ controller: 'tenant' });
    this.events = new EventRecorder(options.kubeConfig, this.logger);
    this.tenants = new TenantResources(options.kubeConfig);
    this.secrets = new ServiceAccountResources(options.kubeConfig);
    this.informer = makeInformer<Tenant>(
      options.kubeConfig,
      `/apis/${group}/${version}/${tenantPlural}`,
      () => this.tenants.listAll(),
    );
  }

  /**
   * Starts watching Tenants and returns once they are listed and each has been checked once, or
   * after `settleMs`, so that ServiceAccounts do not report a missing tenant during a restart.
   * Without the Tenant CRD the watch keeps retrying in the background.
   */
  async start(settleMs = 30_000): Promise<void> {
    const started = this.run();
    const deadline = Date.now() + settleMs;
    let settleTimer: NodeJS.Timeout | undefined;
    const settled = new Promise((resolve) => {
      settleTimer = setTimeout(resolve, settleMs);
    });
    // A pending timer would keep a stopped process alive until it fires.
    await Promise.race([started, settled]).finally(() => clearTimeout(settleTimer));
    while (Date.now() < deadline && !this.stopped) {
      const names = this.informer.list().map((tenant) => tenant.metadata.name);
      if (this.synced && names.every((name) => this.reconciledOnce.has(name))) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!this.synced) {
      this.logger.warn('Tenants are not listed yet (is the Tenant CRD installed?); continuing');
    }
  }

  private async run(): Promise<void> {
    const enqueue = (tenant: Tenant) => this.queue.add(tenant.metadata.name);
    this.informer.on('add', enqueue);
    this.informer.on('update', enqueue);
    this.informer.on('delete', (tenant) => {
      this.queue.forget(tenant.metadata.name);
      this.options.registry.delete(tenant.metadata.name);
      this.logger.info({ tenant: tenant.metadata.name }, 'tenant removed');
    });
    this.informer.on('error', (error) => this.restart(error));

    for (let attempt = 1; !this.stopped; attempt++) {
      const failure = await startInformerOnce(this.informer);
      if (failure === undefined) break;
      const delayMs = Math.min(500 * 2 ** attempt, 30_000);
      this.logger.warn({ err: describeError(failure), delayMs }, 'listing Tenants failed');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    this.synced = true;
    // One worker: tenants are few, and serial checks keep one credential's calls in order.
    this.worker = this.work();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.shutdown();
    await this.informer.stop();
    await this.worker;
  }

  private restart(error: unknown): void {
    if (this.stopped || !this.synced) return;
    this.logger.warn({ err: describeError(error) }, 'Tenant watch failed; restarting');
    setTimeout(() => {
      if (!this.stopped) void this.informer.start().catch((e: unknown) => this.restart(e));
    }, 2_000);
  }

  private async work(): Promise<void> {
    for (;;) {
      const name = await this.queue.get();
      if (name === undefined) return;
      try {
        await this.reconcile(name);
      } catch (error) {
        this.logger.error({ tenant: name, err: describeError(error) }, 'tenant reconcile failed');
        this.queue.addRateLimited(name);
      } finally {
        this.queue.done(name);
      }
    }
  }

  private async reconcile(name: string): Promise<void> {
    try {
      await this.reconcileTenant(name);
    } finally {
      this.reconciledOnce.add(name);
    }
  }

  private async reconcileTenant(name: string): Promise<void> {
    const cached = this.informer.get(name);
    if (!cached) {
      this.options.registry.delete(name);
      return;
    }
    const tenant = structuredClone(cached);
    const logger = this.logger.child({ tenant: name, generation: tenant.metadata.generation });
    const markedDefault = tenant.metadata.annotations?.[defaultTenantAnnotation] === 'true';
    // What ServiceAccounts resolve through the entry. Both come from the spec alone, so a
    // Tenant that cannot connect yet still scopes the claims of its ServiceAccounts.
    const resolving = {
      markedDefault,
      sourceScope: sourceScope(tenant.spec.baseUrl, tenant.spec.source?.name ?? 'Service Accounts'),
    };
    const registry = this.options.registry;

    let settings: TenantSettings;
    try {
      settings = await this.settingsOf(tenant);
    } catch (error) {
      if (!(error instanceof SecretProblem)) throw error;
      this.setEntry(tenant, {
        connection: undefined,
        ready: false,
        reason: error.reason,
        message: error.message,
        ...resolving,
      });
      await this.writeStatus(tenant, {
        ready: false,
        reason: error.reason,
        message: error.message,
      });
      this.queue.addRateLimited(name);
      return;
    }

    const previous = registry.get(name)?.connection;
    let connection: TenantConnection;
    if (previous?.fingerprint === fingerprintOf(settings)) {
      connection = previous;
    } else {
      connection = connectTenant(name, settings, this.options.connection);
      // Changes to the source, schema or profile show up in `kubectl describe isctenant`.
      connection.setup.onChange = (reason, message) => {
        const current = this.informer.get(name);
        if (current) void this.events.record(current, { type: 'Normal', reason, message });
      };
    }

    try {
      const preflight = await connection.setup.preflight();
      const base = {
        credentialIdentityId: preflight.credentialIdentityId,
        capabilities: preflight.capabilities,
        problems: preflight.problems,
      };
      if (preflight.problems.length > 0) {
        const message = preflight.problems.join('; ');
        this.setEntry(tenant, {
          connection,
          ready: false,
          reason: 'PreflightFailed',
          message,
          ...resolving,
        });
        await this.writeStatus(tenant, {
          ready: false,
          reason: 'PreflightFailed',
          message,
          ...base,
        });
        logger.error({ problems: preflight.problems }, 'tenant preflight failed');
        this.queue.addAfter(name, this.options.resyncMs);
        return;
      }

      const objects = await connection.setup.ensure();
      const message =
        `connected as identity ${preflight.credentialIdentityId}; source ` +
        `"${objects.source.name}" and identity profile "${objects.identityProfile.name}" are in place`;
      this.setEntry(tenant, {
        connection,
        ready: true,
        reason: 'Connected',
        message,
        ...resolving,
      });
      await this.writeStatus(tenant, {
        ready: true,
        reason: 'Connected',
        message,
        ...base,
        sourceId: objects.source.id,
        identityProfileId: objects.identityProfile.id,
      });
      this.queue.forget(name);
      this.queue.addAfter(name, this.options.resyncMs);
    } catch (error) {
      const failure = classifyFailure(error);
      if (failure.kind === 'conflict') {
        this.queue.addAfter(name, 100);
        return;
      }
      this.setEntry(tenant, {
        connection,
        ready: false,
        reason: failure.reason,
        message: failure.message,
        ...resolving,
      });
      await this.writeStatus(tenant, {
        ready: false,
        reason: failure.reason,
        message: failure.message,
      });
      logger.warn({ reason: failure.reason, err: failure.message }, 'tenant not ready');
      this.queue.addRateLimited(name);
    }
  }

  /**
   * Stores the entry of a Tenant that still exists. A Tenant deleted while its check awaited
   * ISC is removed instead, so that ServiceAccounts do not use a connection nothing checks.
   */
  private setEntry(tenant: Tenant, entry: TenantEntry): void {
    const name = tenant.metadata.name;
    if (this.informer.get(name)?.metadata.uid === tenant.metadata.uid) {
      this.options.registry.set(name, entry);
    } else {
      this.options.registry.delete(name);
    }
  }

  private async settingsOf(tenant: Tenant): Promise<TenantSettings> {
    const ref = tenant.spec.credentialsSecretRef;
    const read = async (key: string) => {
      try {
        return await this.secrets.readSecretValue(ref.namespace, ref.name, key);
      } catch (error) {
        if (error instanceof SecretUnusableError)
          throw new SecretProblem(error.reason, error.message);
        throw error;
      }
    };
    return {
      baseUrl: tenant.spec.baseUrl,
      apiVersion: tenant.spec.apiVersion ?? 'v2025',
      clientId: await read('clientId'),
      clientSecret: await read('clientSecret'),
      credential: `Secret ${ref.namespace}/${ref.name} (the Tenant's spec.credentialsSecretRef)`,
      sourceName: tenant.spec.source?.name ?? 'Service Accounts',
      identityProfileName: tenant.spec.identityProfile?.name ?? 'Service Accounts',
      ownerIdentityId: tenant.spec.owner?.identityId,
      rateLimitPer10s: tenant.spec.rateLimit?.requestsPer10Seconds ?? 100,
      allowedUserLevels: tenant.spec.policy?.allowedUserLevels,
      syncMode: tenant.spec.syncMode ?? 'api',
      batchWindowSeconds: tenant.spec.batchWindowSeconds ?? 10,
      deleteGuardPercent: tenant.spec.deleteGuard?.maxPercent ?? 10,
      fileNamespace: ref.namespace,
    };
  }

  private async writeStatus(
    tenant: Tenant,
    result: { ready: boolean; reason: string; message: string } & Omit<TenantStatus, 'conditions'>,
  ): Promise<void> {
    const { ready: _ready, reason: _reason, message: _message, ...fields } = result;
    const current = tenant.status ?? {};
    const ready = readyCondition(current, result);
    const status: TenantStatus = {
      ...current,
      ...fields,
      observedGeneration: tenant.metadata.generation,
      conditions: setCondition(current.conditions, ready, tenant.metadata.generation, new Date()),
    };
    if (JSON.stringify(status) === JSON.stringify(current)) return;
    try {
      await this.tenants.patchStatus(tenant, status);
    } catch (error) {
      if (isConflict(error)) this.queue.addAfter(tenant.metadata.name, 100);
      else this.logger.warn({ err: describeError(error) }, 'Tenant status update failed');
    }
  }
}

/**
 * Returns the Tenant's Ready condition for a check result. While csv uploads are stalled, Ready
 * stays False with the stall's reason, because kstatus readers take Ready=True beside
 * Stalled=True as a contradiction. The next landed upload clears both.
 */
export function readyCondition(
  current: TenantStatus,
  check: { ready: boolean; reason: string; message: string },
): { type: 'Ready'; status: 'True' | 'False'; reason: string; message: string } {
  const stall = findCondition(current.conditions, 'Stalled');
  if (check.ready && stall?.status === 'True') {
    return { type: 'Ready', status: 'False', reason: stall.reason, message: stall.message };
  }
  const status = check.ready ? 'True' : 'False';
  return { type: 'Ready', status, reason: check.reason, message: check.message };
}
