import { createHash, randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError } from '../errors.ts';
import { IscApi } from '../isc/api.ts';
import { IscClient } from '../isc/client.ts';
import { IscAmbiguousError } from '../isc/errors.ts';
import type { Account } from '../isc/types.ts';
import { isConflict, SecretUnusableError, ServiceAccountResources } from '../kube/client.ts';
import { EventRecorder } from '../kube/events.ts';
import {
  type CachedInformer,
  makeNamespacedInformer,
  startInformerOnce,
} from '../kube/informers.ts';
import {
  accountFinalizer,
  group,
  objectKey,
  pausedAnnotation,
  reconcileNowAnnotation,
  type ServiceAccount,
  type ServiceAccountStatus,
  serviceAccountPlural,
  splitKey,
  version,
} from '../kube/types.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { AccountIndex } from './account-index.ts';
import { ClaimIndex } from './claim-index.ts';
import { setCondition } from './conditions.ts';
import { CsvBatcher } from './csv-batcher.ts';
import { CsvUploadReporter } from './csv-report.ts';
import { classifyFailure, type Failure } from './errors.ts';
import { IdentityBatch } from './identity-batch.ts';
import { WorkQueue } from './queue.ts';
import {
  type IdentityAccess,
  type Outcome,
  type ReconcileDeps,
  type ReconcileResult,
  reconcileServiceAccount,
  releaseWithoutTenant,
} from './reconcile.ts';
import type { TenantConnection, TenantRegistry, TenantResolution } from './tenant-registry.ts';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  registry: TenantRegistry;
  logger: Logger;
  /** Reconciles running at once. */
  workers?: number;
  /** First and longest delay between polls while ISC finishes asynchronous work, in ms. */
  waitInitialMs?: number;
  waitMaxMs?: number;
  /** Delay before a stalled resource is tried again without any change, in ms. */
  stalledRetryMs?: number;
  /** Period of the full resync that re-reconciles every resource, in ms. */
  resyncMs?: number;
  accountCreateTimeoutMs?: number;
  /** Namespaces to watch; undefined or empty watches all (needs cluster-wide RBAC). */
  namespaces?: readonly string[];
  /** A watch that delivers nothing for this long is restarted with a fresh list, in ms. */
  watchSilenceMs?: number;
  metrics?: OperatorMetrics;
}

type ServiceAccountInformer = CachedInformer<ServiceAccount>;

/**
 * Watches ServiceAccount resources and reconciles each against ISC. Keys flow from the informer
 * into a de-duplicating queue; a fixed number of workers drain it; each outcome becomes status
 * conditions and a requeue decision in one place (`finish`).
 */
export class ServiceAccountController {
  private readonly options: Required<
    Omit<ControllerOptions, 'kubeConfig' | 'registry' | 'logger' | 'metrics' | 'namespaces'>
  >;
  private readonly metrics: OperatorMetrics | undefined;
  private readonly resources: ServiceAccountResources;
  private readonly registry: TenantRegistry;
  private readonly logger: Logger;
  private readonly informer: ServiceAccountInformer;
  private readonly queue: WorkQueue;
  /** Polls in a row of a resource that waits, and what it waits for; a new reason starts over. */
  private readonly waits = new Map<string, { count: number; reason: string }>();
  private readonly pendingDeletes = new Map<string, number>();
  private readonly pendingUpdates = new Map<string, { attributes: string; sentAt: number }>();
  private readonly verifiedIdentities = new Map<string, string>();
  /** Per key, the fields whose change calls for a reconcile, as last seen by the informer. */
  private readonly seen = new Map<string, string>();
  /** Claims on account ids and names, so that a reconcile finds rivals without a scan. */
  private readonly claims: ClaimIndex;
  private readonly serviceAccountApis = new Map<string, IscApi>();
  /** Keys queued by the periodic resync, which read accounts from the per-resync snapshot. */
  private readonly resyncKeys = new Set<string>();
  /** Last reason logged per key and when, so a lasting failure is logged every few minutes. */
  private readonly lastLogged = new Map<string, { reason: string; at: number }>();
  private readonly events: EventRecorder;
  /** csv-mode tenants' upload queues, by tenant name. */
  private readonly batchers = new Map<string, CsvBatcher>();
  /** Bulk identity reads and invitations, by tenant, with the API they were made for. */
  private readonly identityBatches = new Map<string, { api: IscApi; batch: IdentityBatch }>();
  private readonly uploadReporter: CsvUploadReporter;
  private readonly workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private informerFailures = 0;
  private stopped = false;
  private relisting = false;
  private lastWatchActivity = Date.now();
  private watchdogTimer: NodeJS.Timeout | undefined;
  synced = false;

  constructor(options: ControllerOptions) {
    this.options = {
      workers: options.workers ?? 4,
      waitInitialMs: options.waitInitialMs ?? 1_000,
      waitMaxMs: options.waitMaxMs ?? 60_000,
      stalledRetryMs: options.stalledRetryMs ?? 300_000,
      resyncMs: options.resyncMs ?? 600_000,
      accountCreateTimeoutMs: options.accountCreateTimeoutMs ?? 600_000,
      watchSilenceMs: options.watchSilenceMs ?? 300_000,
    };
    this.resources = new ServiceAccountResources(options.kubeConfig);
    this.registry = options.registry;
    // A tenant that became ready (or stopped being ready) changes what every resource can do.
    this.registry.onChange(() => {
      if (this.synced) this.resync();
    });
    this.logger = options.logger.child({ controller: 'serviceaccount' });
    this.events = new EventRecorder(options.kubeConfig, this.logger);
    this.metrics = options.metrics;
    this.uploadReporter = new CsvUploadReporter(
      options.kubeConfig,
      this.events,
      this.metrics,
      this.logger.child({ component: 'csv-upload' }),
    );
    this.metrics?.gauge(
      'isc_sa_workqueue_depth',
      'ServiceAccount keys waiting for a worker.',
      () => this.queue.length,
    );
    this.queue = new WorkQueue({ baseDelayMs: 1_000, maxDelayMs: 300_000 });
    this.informer = makeNamespacedInformer<ServiceAccount>(
      options.kubeConfig,
      { group, version, plural: serviceAccountPlural },
      (namespace) => this.resources.list(namespace),
      options.namespaces,
    );
    this.claims = new ClaimIndex(
      (key) => {
        const { namespace, name } = splitKey(key);
        return this.informer.get(name, namespace);
      },
      (resource) => this.registry.claimScope(tenantReferenceOf(resource)),
    );
  }

  /** Starts the informer and waits for its first complete list before any worker runs. */
  async start(): Promise<void> {
    const enqueue = (resource: ServiceAccount) => {
      this.claims.set(resource);
      this.seen.set(objectKey(resource), relevantFields(resource));
      this.queue.add(objectKey(resource));
    };
    this.informer.on('add', enqueue);
    // A change of status alone, mostly the operator's own writes, needs no reconcile: it would
    // only read ISC again. Spec, annotations, finalizers and deletion do.
    this.informer.on('update', (resource) => {
      if (this.seen.get(objectKey(resource)) === relevantFields(resource)) return;
      enqueue(resource);
    });
    this.informer.on('delete', (resource) => {
      const key = objectKey(resource);
      this.seen.delete(key);
      this.claims.remove(resource);
      this.waits.delete(key);
      this.lastLogged.delete(key);
      this.pendingUpdates.delete(resource.metadata.uid ?? '');
      this.verifiedIdentities.delete(resource.metadata.uid ?? '');
      this.resyncKeys.delete(key);
      this.queue.forget(key);
      for (const batcher of this.batchers.values()) batcher.forget(resource.metadata.uid ?? '');
      // A resource stalled as a duplicate of this one can go ahead now.
      for (const peer of this.claims.sharing(resource)) this.queue.add(objectKey(peer));
    });
    this.informer.on('error', (error) => this.restartInformer(error));
    this.informer.on('connect', () => this.logger.debug('watch connected'));
    const active = () => {
      this.lastWatchActivity = Date.now();
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.informer.on(verb, active);
    this.informer.on('connect', active);

    await this.startInformer();
    // The first round after a start is a resync too: one paged read per tenant.
    this.resync();
    for (let i = 0; i < this.options.workers; i++) this.workers.push(this.work());
    this.resyncTimer = setInterval(() => void this.periodicResync(), this.options.resyncMs);
    this.resyncTimer.unref();
    const silenceCheckMs = Math.min(this.options.watchSilenceMs / 2, 60_000);
    this.watchdogTimer = setInterval(() => {
      const silentMs = Date.now() - this.lastWatchActivity;
      if (silentMs < this.options.watchSilenceMs) return;
      void this.relist(`no watch event for ${Math.round(silentMs / 1000)} s`);
    }, silenceCheckMs);
    this.watchdogTimer.unref();
    this.logger.info({ workers: this.options.workers }, 'controller started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearInterval(this.watchdogTimer);
    clearTimeout(this.restartTimer);
    for (const batcher of this.batchers.values()) batcher.stop();
    for (const { batch } of this.identityBatches.values()) batch.close();
    this.queue.shutdown();
    await this.informer.stop();
    await Promise.all(this.workers);
    this.logger.info('controller stopped');
  }

  /** Returns every resource the informer currently contains. */
  list(): readonly ServiceAccount[] {
    return this.informer.list();
  }

  private async startInformer(): Promise<void> {
    while (!this.stopped) {
      const failure = await startInformerOnce(this.informer);
      if (failure === undefined) {
        this.synced = true;
        this.informerFailures = 0;
        return;
      }
      const delayMs = this.informerDelay();
      this.logger.warn({ err: describeError(failure), delayMs }, 'initial list failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** Restarts the watch, which client-node stops for good on errors other than 410 and timeouts. */
  private restartInformer(error: unknown): void {
    if (this.stopped || !this.synced || this.relisting || this.restartTimer !== undefined) return;
    // Our own stop() during a relist aborts the old watch; that is no failure.
    if ((error as { name?: string } | undefined)?.name === 'AbortError') return;
    const delayMs = this.informerDelay();
    this.logger.warn({ err: describeError(error), delayMs }, 'watch failed; restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.informer.start().then(
        () => {
          this.informerFailures = 0;
        },
        (startError: unknown) => this.restartInformer(startError),
      );
    }, delayMs);
  }

  private informerDelay(): number {
    this.informerFailures++;
    return Math.min(500 * 2 ** this.informerFailures, 30_000);
  }

  /**
   * Restarts the watch from a fresh list. Events a watch may have lost (a stalled connection,
   * a proxy that drops streams silently) then arrive as updates of the changed objects.
   */
  private async relist(why: string): Promise<void> {
    if (this.relisting || this.stopped) return;
    this.relisting = true;
    try {
      this.logger.debug({ why }, 'relisting ServiceAccounts');
      await this.informer.stop();
      if (!this.stopped) await this.informer.start();
      this.lastWatchActivity = Date.now();
    } catch (error) {
      this.logger.warn({ err: describeError(error) }, 'relist failed');
    } finally {
      this.relisting = false;
    }
  }

  private async periodicResync(): Promise<void> {
    await this.relist('periodic resync');
    if (!this.stopped) this.resync();
  }

  /** Queues every resource, reading each tenant's accounts once in pages for the whole round. */
  private resync(): void {
    this.registry.invalidateAccountSnapshots();
    for (const resource of this.informer.list()) {
      const key = objectKey(resource);
      this.resyncKeys.add(key);
      this.queue.add(key);
    }
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key);
      } catch (error) {
        this.logger.error({ key, err: describeError(error) }, 'unexpected error in worker');
        this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const cached = this.informer.get(name, namespace);
    if (!cached) return;
    // Reconcile a copy: the reconcile updates resourceVersion after its own writes.
    const resource = structuredClone(cached);
    const logger = this.logger.child({
      namespace,
      name,
      generation: resource.metadata.generation,
      reconcileId: randomUUID(),
    });

    if (resource.metadata.annotations?.[pausedAnnotation] === 'true') {
      await this.markPaused(key, resource, logger);
      return;
    }

    const started = performance.now();
    const fromResync = this.resyncKeys.delete(key);
    const tenant = this.registry.resolve(tenantReferenceOf(resource));
    let result: ReconcileResult | { failure: Failure };
    if (!tenant.ok) {
      result = await this.withoutTenant(resource, tenant, logger);
      await this.finish(key, resource, result, logger);
      return;
    }
    const batcher = this.batcherFor(tenant.name, tenant.connection);
    let lookupAccount: ReconcileDeps['lookupAccount'];
    if (batcher) lookupAccount = batchLookup(batcher, tenant.connection);
    else if (fromResync) lookupAccount = snapshotLookup(tenant.connection.accounts);
    try {
      result = await reconcileServiceAccount(
        {
          resources: this.resources,
          api: tenant.connection.api,
          tenant: tenant.connection.setup,
          peers: (resource) => this.claims.sharing(resource),
          accountCreateTimeoutMs: this.options.accountCreateTimeoutMs,
          pendingDeletes: this.pendingDeletes,
          pendingUpdates: this.pendingUpdates,
          verifiedIdentities: this.verifiedIdentities,
          allowedUserLevels: tenant.connection.allowedUserLevels,
          serviceAccountApi: (target) => this.serviceAccountApi(target, tenant.connection),
          grantedScopes: (namespace, secretName) =>
            this.grantedScopes(namespace, secretName, tenant.connection),
          forgetCredential: (clientId) => this.forgetCredential(clientId),
          tenantBaseUrl: tenant.connection.client.baseUrl,
          ...(lookupAccount ? { lookupAccount } : {}),
          ...(batcher ? { batch: batcher } : {}),
          identities: this.identityAccess(key, tenant.name, tenant.connection.api),
          now: () => new Date(),
        },
        resource,
      );
    } catch (error) {
      result = { failure: classifyFailure(error) };
    }
    if ('observed' in result) result.observed.tenant = tenant.name;
    if (batcher && 'outcome' in result) noteStoppedUploads(result.outcome, tenant.name, batcher);
    this.metrics?.reconciled(...metricLabels(result), performance.now() - started);
    await this.finish(key, resource, result, logger);
  }

  /**
   * Handles a resource whose Tenant cannot be used. A deletion that needs nothing from ISC
   * (see releaseWithoutTenant) releases the finalizer, and everything else waits for the Tenant.
   */
  private async withoutTenant(
    resource: ServiceAccount,
    tenant: Extract<TenantResolution, { ok: false }>,
    logger: Logger,
  ): Promise<ReconcileResult | { failure: Failure }> {
    const waiting = (message: string): ReconcileResult => ({
      outcome: { kind: 'waiting', reason: tenant.reason, message },
      observed: {},
      events: [],
    });
    const finalizers = resource.metadata.finalizers ?? [];
    if (!resource.metadata.deletionTimestamp || !finalizers.includes(accountFinalizer)) {
      return waiting(tenant.message);
    }
    const released = releaseWithoutTenant(resource, tenant);
    if (released === undefined) {
      return waiting(
        `${tenant.message}. The deletion waits for the Tenant. To delete this resource without ` +
          'touching ISC, set spec.deletionPolicy to Orphan',
      );
    }
    try {
      await this.resources.setFinalizers(
        resource,
        finalizers.filter((name) => name !== accountFinalizer),
      );
    } catch (error) {
      return { failure: classifyFailure(error) };
    }
    this.pendingDeletes.delete(resource.metadata.uid ?? '');
    logger.info(
      { tenantReason: tenant.reason, detail: released },
      'finalizer removed without contacting ISC',
    );
    return {
      outcome: { kind: 'resource-updated' },
      observed: {},
      events: [{ type: 'Normal', reason: 'OrphanedAccount', message: released }],
    };
  }

  /** Maps a reconcile result to status, log line and requeue. */
  private async finish(
    key: string,
    resource: ServiceAccount,
    result: ReconcileResult | { failure: Failure },
    logger: Logger,
  ): Promise<void> {
    let view: StatusView;
    let observed: ReconcileResult['observed'] = {};
    let failure: Failure | undefined;
    if ('failure' in result) {
      failure = result.failure;
      if (failure.kind === 'conflict') {
        logger.debug('conflict on write; requeueing');
        this.queue.addAfter(key, 100);
        return;
      }
      view = viewOfFailure(failure);
    } else {
      for (const note of result.events) await this.events.record(resource, note);
      if (result.outcome.kind === 'resource-updated') {
        logger.debug('resource updated; waiting for its watch event');
        return;
      }
      if (result.outcome.kind === 'deferred') {
        // The bulk read wakes the resource; this requeue only covers a read that never ends,
        // such as one dropped when the tenant's connection changed.
        this.queue.addAfter(key, deferredFallbackMs);
        return;
      }
      view = viewOfOutcome(result.outcome);
      observed = result.observed;
    }

    const status = this.nextStatus(resource, view, observed);
    const logged = this.lastLogged.get(key);
    const now = Date.now();
    const shouldLog =
      logged === undefined || logged.reason !== view.reason || now - logged.at > repeatLogMs;
    try {
      if (!sameStatus(resource.status, status)) await this.resources.patchStatus(resource, status);
    } catch (error) {
      if (isConflict(error)) {
        this.queue.addAfter(key, 100);
        return;
      }
      logger.warn({ err: describeError(error) }, 'status update failed');
      this.queue.addRateLimited(key);
      return;
    }

    if (shouldLog) {
      this.lastLogged.set(key, { reason: view.reason, at: now });
      const fields = { reason: view.reason, message: view.message, ...observed };
      if (view.level === 'error') logger.error(fields, 'reconcile stalled');
      else if (view.level === 'warn') logger.warn(fields, 'reconcile failed; retrying');
      else {
        // After a restart, resources already converged before are not news.
        const stored = resource.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
        const level = stored === view.reason ? 'debug' : 'info';
        logger[level](fields, view.ready ? 'service account ready' : 'reconcile waiting');
      }
      if (view.level !== 'info') {
        await this.events.record(resource, {
          type: 'Warning',
          reason: view.reason,
          message: view.message,
        });
      }
    }
    this.schedule(key, view, failure);
  }

  /**
   * Returns the upload queue of a csv-mode tenant, created on first use and kept across
   * connection changes so that its uploads stay one at a time; undefined in api mode.
   */
  private batcherFor(tenantName: string, connection: TenantConnection): CsvBatcher | undefined {
    const csv = connection.csv;
    if (!csv) return undefined;
    let batcher = this.batchers.get(tenantName);
    if (!batcher) {
      const logger = this.logger.child({ tenant: tenantName, component: 'csv-batcher' });
      batcher = new CsvBatcher({
        tenantName,
        connection: () => {
          const resolved = this.registry.resolve(tenantName);
          return resolved.ok && resolved.connection.csv ? resolved.connection : undefined;
        },
        resources: () =>
          this.informer
            .list()
            .filter(
              (resource) => this.registry.resolve(tenantReferenceOf(resource)).name === tenantName,
            ),
        synced: () => this.synced,
        wake: (keys) => {
          for (const key of keys) this.queue.addFirst(key);
        },
        report: (report) => {
          const namespace = this.registry.resolve(tenantName);
          const fileNamespace = namespace.ok ? namespace.connection.csv?.fileNamespace : undefined;
          return this.uploadReporter.report(tenantName, fileNamespace, report);
        },
        logger,
        retryMaxMs: this.options.stalledRetryMs,
      });
      this.batchers.set(tenantName, batcher);
    }
    batcher.configure(csv.batchWindowMs, csv.maxDeletePercent);
    return batcher;
  }

  /**
   * Binds the tenant's IdentityBatch to one resource. A new connection (changed Tenant or rotated
   * credential) gets a new batch; what the old one had queued is asked again by the resources.
   */
  private identityAccess(key: string, tenantName: string, api: IscApi): IdentityAccess {
    let entry = this.identityBatches.get(tenantName);
    if (entry?.api !== api) {
      entry?.batch.close();
      const batch = new IdentityBatch({
        api,
        wake: (keys) => {
          for (const woken of keys) this.queue.addFirst(woken);
        },
        windowMs: identityBatchWindowMs,
        maxWaitMs: identityBatchMaxWaitMs,
        logger: this.logger.child({ tenant: tenantName, component: 'identity-batch' }),
      });
      entry = { api, batch };
      this.identityBatches.set(tenantName, entry);
    }
    const { batch } = entry;
    return {
      read: (identityId) => batch.identity(identityId, key),
      account: (sourceId, nativeIdentity) => batch.account(sourceId, nativeIdentity, key),
      invite: (identityId, previous) => batch.invite(identityId, key, previous),
      takeInvitationFailure: (identityId) => batch.takeInvitationFailure(identityId),
    };
  }

  /**
   * Returns ISC access as the service account itself, from its bootstrap Secret, reusing the
   * client (and its token) while the Secret's content stays the same.
   */
  private async serviceAccountApi(
    resource: ServiceAccount,
    connection: TenantConnection,
  ): Promise<IscApi | string> {
    const ref = resource.spec.bootstrapCredentialsSecretRef;
    if (!ref) {
      return (
        'spec.tokens needs spec.bootstrapCredentialsSecretRef: ISC mints a personal access ' +
        "token for the calling identity, so the service account's own PAT must be in a Secret"
      );
    }
    const namespace = resource.metadata.namespace;
    let clientId: string;
    let clientSecret: string;
    try {
      clientId = await this.resources.readSecretValue(namespace, ref.name, 'clientId');
      clientSecret = await this.resources.readSecretValue(namespace, ref.name, 'clientSecret');
    } catch (error) {
      if (error instanceof SecretUnusableError) return error.message;
      throw error;
    }
    const fingerprint = createHash('sha256')
      .update(`${connection.fingerprint}|${clientId}|${clientSecret}`)
      .digest('hex');
    const cached = this.serviceAccountApis.get(fingerprint);
    if (cached) return cached;
    const api = new IscApi(
      new IscClient({
        baseUrl: connection.client.baseUrl,
        apiVersion: connection.client.apiVersion,
        clientId,
        clientSecret,
        credential: `Secret ${namespace}/${ref.name} (spec.bootstrapCredentialsSecretRef)`,
        logger: this.logger.child({ component: 'isc-client', credential: 'service-account' }),
        ...(this.metrics ? { observer: this.metrics } : {}),
      }),
    );
    this.serviceAccountApis.set(fingerprint, api);
    return api;
  }

  /**
   * Requests a new access token with the credential in a token Secret and returns its scopes;
   * the token itself is not kept. Undefined when the Secret or one of its keys is missing.
   */
  private async grantedScopes(
    namespace: string,
    secretName: string,
    connection: TenantConnection,
  ): Promise<string[] | undefined> {
    let clientId: string;
    let clientSecret: string;
    try {
      clientId = await this.resources.readSecretValue(namespace, secretName, 'clientId');
      clientSecret = await this.resources.readSecretValue(namespace, secretName, 'clientSecret');
    } catch (error) {
      if (error instanceof SecretUnusableError) return undefined;
      throw error;
    }
    const client = new IscClient({
      baseUrl: connection.client.baseUrl,
      apiVersion: connection.client.apiVersion,
      clientId,
      clientSecret,
      credential: `Secret ${namespace}/${secretName}`,
      logger: this.logger.child({ component: 'isc-client', credential: 'token-check' }),
      ...(this.metrics ? { observer: this.metrics } : {}),
    });
    return (await client.tokenOwner()).scopes;
  }

  private forgetCredential(clientId: string): void {
    for (const [fingerprint, api] of this.serviceAccountApis) {
      if (api.client.credentialId === clientId) this.serviceAccountApis.delete(fingerprint);
    }
  }

  /** Records that the resource is paused; nothing else is read or written until it resumes. */
  private async markPaused(key: string, resource: ServiceAccount, logger: Logger): Promise<void> {
    const current = resource.status ?? {};
    const conditions = setCondition(
      current.conditions,
      {
        type: 'Synced',
        status: 'False',
        reason: 'Paused',
        message: `writes are paused by the annotation ${pausedAnnotation}; remove it to resume`,
      },
      resource.metadata.generation,
      new Date(),
    );
    const status = { ...current, conditions };
    if (sameStatus(resource.status, status)) return;
    try {
      await this.resources.patchStatus(resource, status);
      logger.info('reconcile paused');
    } catch (error) {
      if (isConflict(error)) this.queue.addAfter(key, 100);
      else logger.warn({ err: describeError(error) }, 'status update failed');
    }
  }

  private nextStatus(
    resource: ServiceAccount,
    view: StatusView,
    observed: ReconcileResult['observed'],
  ): ServiceAccountStatus {
    const now = new Date();
    const generation = resource.metadata.generation;
    const current = resource.status ?? {};
    let conditions = setCondition(
      current.conditions,
      {
        type: 'Ready',
        status: view.ready ? 'True' : 'False',
        reason: view.reason,
        message: view.message,
      },
      generation,
      now,
    );
    conditions = setCondition(conditions, { type: 'Synced', ...view.synced }, generation, now);
    conditions = setOrRemove(conditions, 'Reconciling', view.reconciling, view, generation, now);
    conditions = setOrRemove(conditions, 'Stalled', view.stalled, view, generation, now);

    const status: ServiceAccountStatus = {
      ...current,
      ...observed,
      conditions,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
    };
    if (observed.accountId !== undefined && current.accountCreateRequestedAt) {
      status.accountCreateRequestedAt = null;
    }
    const requested = resource.metadata.annotations?.[reconcileNowAnnotation];
    if (requested !== undefined && view.completed) status.lastHandledReconcileAt = requested;
    return status;
  }

  private schedule(key: string, view: StatusView, failure: Failure | undefined): void {
    if (view.ready) {
      this.waits.delete(key);
      this.queue.forget(key);
      this.queue.cancelDelayed(key);
      return;
    }
    if (view.stalled) {
      this.queue.addAfter(key, this.options.stalledRetryMs);
      return;
    }
    if (failure?.kind === 'transient') {
      const delayMs = this.queue.addRateLimited(key);
      if (failure.retryAfterMs !== undefined && failure.retryAfterMs > delayMs) {
        this.queue.addAfter(key, failure.retryAfterMs);
      }
      return;
    }
    // Each step waited for (the upload, then the identity, ...) starts with short polls again,
    // instead of inheriting the long delay the previous step had grown to.
    const previous = this.waits.get(key);
    const waits = previous?.reason === view.reason ? previous.count : 0;
    this.waits.set(key, { count: waits + 1, reason: view.reason });
    this.queue.addAfter(
      key,
      Math.min(this.options.waitInitialMs * 1.5 ** waits, this.options.waitMaxMs),
    );
  }
}

function batchLookup(batcher: CsvBatcher, connection: TenantConnection) {
  return async (sourceId: string, nativeIdentity: string): Promise<Account | undefined> => {
    const matches = await batcher.lookup(connection, sourceId, nativeIdentity);
    if (matches.length > 1) {
      throw new IscAmbiguousError(
        `accounts with id "${nativeIdentity}" on source ${sourceId}`,
        matches.map((account) => account.id),
      );
    }
    return matches[0];
  };
}

function snapshotLookup(accounts: AccountIndex) {
  return async (sourceId: string, nativeIdentity: string): Promise<Account | undefined> => {
    const matches = await accounts.lookup(sourceId, nativeIdentity);
    if (matches.length > 1) {
      throw new IscAmbiguousError(
        `accounts with id "${nativeIdentity}" on source ${sourceId}`,
        matches.map((account) => account.id),
      );
    }
    return matches[0];
  };
}

/**
 * Appends why uploads are stopped to the message of a resource that waits for an upload,
 * because that wait lasts until a person acts on the Tenant.
 */
function noteStoppedUploads(outcome: Outcome, tenantName: string, batcher: CsvBatcher): void {
  const stall = batcher.stalledReason;
  if (stall === undefined || outcome.kind !== 'waiting') return;
  if (outcome.reason !== 'WaitingForUpload' && outcome.reason !== 'DeletingAccount') return;
  outcome.message += `; uploads stopped: Tenant ${tenantName} is Stalled (${stall})`;
}

/**
 * Returns the Tenant name the resource refers to, or undefined for the default Tenant. An
 * account stays in the tenant recorded in status.tenant, even if the default tenant changes.
 */
function tenantReferenceOf(resource: ServiceAccount): string | undefined {
  return resource.spec.tenantRef?.name ?? resource.status?.tenant;
}

function relevantFields(resource: ServiceAccount): string {
  return JSON.stringify([
    resource.metadata.generation,
    resource.metadata.annotations ?? {},
    resource.metadata.labels ?? {},
    resource.metadata.finalizers ?? [],
    resource.metadata.deletionTimestamp ?? null,
  ]);
}

/** How often a reason that persists is logged (and recorded as a Warning Event) again. */
const repeatLogMs = 5 * 60_000;
/**
 * Identity reads and invitations go out 1 s after the last request, and at most 10 s after the
 * first. That is short against the time ISC takes to create an identity, and long enough for the
 * reconciles after an upload (about 25 a second through four workers, measured) to fill requests.
 */
const identityBatchWindowMs = 1_000;
/** When a reconcile that joined a bulk read runs again if the read has not woken it. */
const deferredFallbackMs = 60_000;
const identityBatchMaxWaitMs = 10_000;

function metricLabels(result: ReconcileResult | { failure: Failure }): [string, string] {
  if ('failure' in result) {
    const { failure } = result;
    if (failure.kind === 'conflict') return ['conflict', ''];
    return [failure.kind === 'terminal' ? 'stalled' : 'error', failure.reason];
  }
  const { outcome } = result;
  return [outcome.kind, 'reason' in outcome ? outcome.reason : ''];
}

/** Meaning of one reconcile for the resource's conditions and logs. */
interface StatusView {
  ready: boolean;
  reconciling: boolean;
  stalled: boolean;
  /** The reconcile ran to a decision, so a reconcile-now request counts as handled. */
  completed: boolean;
  reason: string;
  message: string;
  level: 'info' | 'warn' | 'error';
  /** Whether the last reconcile applied the spec (or, under ObserveOnly, found no drift). */
  synced: { status: 'True' | 'False'; reason: string; message: string };
}

const syncedOk = {
  status: 'True',
  reason: 'ReconcileSucceeded',
  message: 'the last reconcile completed',
} as const;

function viewOfOutcome(
  outcome: Exclude<Outcome, { kind: 'resource-updated' | 'deferred' }>,
): StatusView {
  const base = { reason: outcome.reason, message: outcome.message, completed: true };
  switch (outcome.kind) {
    case 'ready': {
      const synced = outcome.drift
        ? { status: 'False' as const, reason: 'DriftDetected', message: outcome.drift }
        : syncedOk;
      return { ...base, ready: true, reconciling: false, stalled: false, level: 'info', synced };
    }
    case 'waiting':
      return {
        ...base,
        ready: false,
        reconciling: true,
        stalled: false,
        level: 'info',
        synced: syncedOk,
      };
    case 'stalled':
      return {
        ...base,
        ready: false,
        reconciling: false,
        stalled: true,
        level: 'error',
        synced: { status: 'False', reason: outcome.reason, message: outcome.message },
      };
  }
}

function viewOfFailure(failure: Exclude<Failure, { kind: 'conflict' }>): StatusView {
  const stalled = failure.kind === 'terminal';
  return {
    ready: false,
    reconciling: !stalled,
    stalled,
    completed: false,
    reason: failure.reason,
    message: failure.message,
    level: stalled ? 'error' : 'warn',
    synced: { status: 'False', reason: failure.reason, message: failure.message },
  };
}

function setOrRemove(
  conditions: ServiceAccountStatus['conditions'] & object,
  type: string,
  present: boolean,
  view: StatusView,
  generation: number | undefined,
  now: Date,
) {
  if (!present) return conditions.filter((condition) => condition.type !== type);
  return setCondition(
    conditions,
    { type, status: 'True', reason: view.reason, message: view.message },
    generation,
    now,
  );
}

function sameStatus(
  current: ServiceAccountStatus | undefined,
  next: ServiceAccountStatus,
): boolean {
  const normalized = { ...next };
  if (normalized.accountCreateRequestedAt === null) return false;
  return JSON.stringify(sortKeys(current ?? {})) === JSON.stringify(sortKeys(normalized));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, entry]) => entry !== undefined)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, entry]) => [key, sortKeys(entry)]),
  );
}
