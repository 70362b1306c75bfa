import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  group,
  type ServiceAccount,
  type ServiceAccountSpec,
  type ServiceAccountStatus,
  serviceAccountPlural,
  type Tenant,
  type TenantSpec,
  type TenantStatus,
  tenantPlural,
  tokenSecretLabel,
  version,
} from './types.ts';

/** Label the operator puts on every Secret it writes. */
export const managedByLabel = 'app.kubernetes.io/managed-by';
export const managedByValue = 'isc-sa-operator';

/**
 * Loads a kubeconfig file when given, else $KUBECONFIG, ~/.kube/config or the in-cluster
 * configuration. Throws when none exists, instead of client-node's fallback to an unsecured
 * localhost:8080 that fails on every call.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const config = new KubeConfig();
  reuseConnections(config);
  if (path) {
    config.loadFromFile(path);
    return config;
  }
  const defaultFile = join(homedir(), '.kube', 'config');
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST);
  if (!process.env.KUBECONFIG && !existsSync(defaultFile) && !inCluster) {
    throw new Error(
      `no Kubernetes configuration found: set KUBECONFIG, create ${defaultFile}, or run in a pod`,
    );
  }
  config.loadFromDefault();
  return config;
}

/** The part of client-node's private dispatcher factory that reuseConnections replaces. */
interface DispatcherFactory {
  createDispatcher(cluster: unknown, agentOptions: unknown): { close(): Promise<void> } | undefined;
}

/**
 * Makes the API clients of `config` share one connection pool. client-node 2.0 builds a new
 * undici Agent for every API request, so each request opens its own TLS connection, and the idle
 * ones linger until their keep-alive ends. At a thousand resources that cost about 180 MiB of
 * peak memory and a TLS handshake per call. The pool is kept while the TLS settings (server, CA, client certificate)
 * stay the same, and replaced when they change, as when a mounted certificate is renewed.
 */
export function reuseConnections(config: KubeConfig): void {
  const factory = config as unknown as DispatcherFactory;
  const create = factory.createDispatcher.bind(config);
  let current: { key: string; dispatcher: ReturnType<DispatcherFactory['createDispatcher']> };
  factory.createDispatcher = (cluster, agentOptions) => {
    const options = config.createDispatcherOptions(
      cluster as Parameters<KubeConfig['createDispatcherOptions']>[0],
      agentOptions as Parameters<KubeConfig['createDispatcherOptions']>[1],
    );
    const key = createHash('sha256')
      .update(JSON.stringify([(cluster as { server?: string } | null)?.server, options]))
      .digest('hex');
    if (current?.key !== key) {
      const previous = current?.dispatcher;
      current = { key, dispatcher: create(cluster, agentOptions) };
      // Requests already sent on the old pool finish; close() waits for them.
      void previous?.close().catch(() => {});
    }
    return current.dispatcher;
  };
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Reads and writes `ServiceAccount` resources of the isc.sailpoint group. */
export class ServiceAccountResources {
  readonly customObjects: CustomObjectsApi;
  readonly core: CoreV1Api;

  constructor(config: KubeConfig) {
    this.customObjects = config.makeApiClient(CustomObjectsApi);
    this.core = config.makeApiClient(CoreV1Api);
  }

  /** Lists ServiceAccounts in one namespace, or in all when `namespace` is undefined. */
  async list(
    namespace?: string,
  ): Promise<{ items: ServiceAccount[]; metadata?: { resourceVersion?: string } }> {
    if (namespace === undefined) {
      return this.customObjects.listClusterCustomObject({
        group,
        version,
        plural: serviceAccountPlural,
      });
    }
    return this.customObjects.listNamespacedCustomObject({
      group,
      version,
      namespace,
      plural: serviceAccountPlural,
    });
  }

  /**
   * Merge-patches the status subresource. `resourceVersion` makes the write conditional, so a
   * status computed from a stale read fails with 409 instead of overwriting newer data.
   */
  async patchStatus(
    resource: ServiceAccount,
    status: ServiceAccountStatus,
  ): Promise<ServiceAccount> {
    return this.customObjects.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        namespace: resource.metadata.namespace,
        plural: serviceAccountPlural,
        name: resource.metadata.name,
        body: { metadata: { resourceVersion: resource.metadata.resourceVersion }, status },
      },
      mergePatch,
    );
  }

  /** Merge-patches spec fields, guarded by resourceVersion like `patchStatus`. */
  async patchSpec(
    resource: ServiceAccount,
    spec: Partial<ServiceAccountSpec>,
  ): Promise<ServiceAccount> {
    return this.customObjects.patchNamespacedCustomObject(
      {
        group,
        version,
        namespace: resource.metadata.namespace,
        plural: serviceAccountPlural,
        name: resource.metadata.name,
        body: { metadata: { resourceVersion: resource.metadata.resourceVersion }, spec },
      },
      mergePatch,
    );
  }

  /** Replaces the finalizer list, guarded by resourceVersion like `patchStatus`. */
  async setFinalizers(resource: ServiceAccount, finalizers: string[]): Promise<ServiceAccount> {
    return this.customObjects.patchNamespacedCustomObject(
      {
        group,
        version,
        namespace: resource.metadata.namespace,
        plural: serviceAccountPlural,
        name: resource.metadata.name,
        body: { metadata: { resourceVersion: resource.metadata.resourceVersion, finalizers } },
      },
      mergePatch,
    );
  }

  /**
   * Creates a Secret owned by the resource (garbage-collected with it), labelled with the
   * resource's name so that `kubectl get secrets -l isc.sailpoint/service-account=NAME` finds
   * it, or replaces one the operator wrote for this resource before. Throws SecretConflictError
   * when a Secret of that name exists that `ownsSecret` does not accept, and leaves it as it is.
   * The replace is guarded by the resourceVersion read, so a Secret that changed hands in
   * between fails with 409.
   */
  async writeOwnedSecret(
    owner: ServiceAccount,
    name: string,
    data: Record<string, string>,
    labels: Record<string, string>,
  ): Promise<void> {
    const namespace = owner.metadata.namespace;
    const body: V1Secret = {
      metadata: {
        name,
        namespace,
        labels,
        ownerReferences: [
          {
            apiVersion: `${group}/${version}`,
            kind: 'ServiceAccount',
            name: owner.metadata.name,
            uid: owner.metadata.uid!,
            controller: true,
            blockOwnerDeletion: false,
          },
        ],
      },
      type: 'Opaque',
      stringData: data,
    };
    try {
      await this.core.createNamespacedSecret({ namespace, body });
      return;
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 409)) throw error;
    }
    const existing = await this.readSecret(namespace, name);
    if (existing && !ownsSecret(owner, existing)) throw new SecretConflictError(namespace, name);
    body.metadata!.resourceVersion = existing?.metadata?.resourceVersion;
    await this.core.replaceNamespacedSecret({ namespace, name, body });
  }

  /**
   * Tells whether the operator may write a token Secret of this name for `owner`: `absent` when
   * none exists, `owned` when `ownsSecret` accepts it, else `foreign`.
   */
  async secretClaim(owner: ServiceAccount, name: string): Promise<'absent' | 'owned' | 'foreign'> {
    const secret = await this.readSecret(owner.metadata.namespace, name);
    if (!secret) return 'absent';
    return ownsSecret(owner, secret) ? 'owned' : 'foreign';
  }

  /**
   * Deletes a token Secret that `ownsSecret` accepts for `owner`, with the uid and
   * resourceVersion read as preconditions. Returns false, and deletes nothing, when the Secret
   * is missing or belongs to someone else.
   */
  async deleteOwnedSecret(owner: ServiceAccount, name: string): Promise<boolean> {
    const namespace = owner.metadata.namespace;
    const secret = await this.readSecret(namespace, name);
    if (!secret || !ownsSecret(owner, secret)) return false;
    try {
      await this.core.deleteNamespacedSecret({
        namespace,
        name,
        body: {
          preconditions: {
            uid: secret.metadata?.uid,
            resourceVersion: secret.metadata?.resourceVersion,
          },
        },
      });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    }
    return true;
  }

  /** Deletes a Secret; a missing one is fine. */
  async deleteSecret(namespace: string, name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedSecret({ namespace, name });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    }
  }

  /** Reads a Secret; undefined when it does not exist. */
  async readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ namespace, name });
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw error;
    }
  }

  /**
   * Sets keys of a Secret read by `readSecret` in one replace, guarded by the resourceVersion
   * it was read at: a Secret changed since then fails with 409 and stays as it is. Other keys,
   * labels and annotations are kept.
   */
  async updateSecretData(secret: V1Secret, values: Record<string, string>): Promise<void> {
    const encoded = Object.fromEntries(
      Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    );
    const body: V1Secret = { ...secret, data: { ...secret.data, ...encoded } };
    delete body.stringData;
    await this.core.replaceNamespacedSecret({
      namespace: secret.metadata!.namespace!,
      name: secret.metadata!.name!,
      body,
    });
  }

  async readSecretValue(namespace: string, name: string, key: string): Promise<string> {
    let secret: Awaited<ReturnType<CoreV1Api['readNamespacedSecret']>>;
    try {
      secret = await this.core.readNamespacedSecret({ namespace, name });
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) {
        throw new SecretUnusableError(
          'SecretNotFound',
          `Secret ${namespace}/${name} does not exist; create it with keys clientId and clientSecret`,
        );
      }
      throw error;
    }
    const encoded = secret.data?.[key];
    if (encoded === undefined) {
      throw new SecretUnusableError(
        'SecretKeyMissing',
        `Secret ${namespace}/${name} has no key ${key}; it needs clientId and clientSecret`,
      );
    }
    return Buffer.from(encoded, 'base64').toString('utf8');
  }
}

/**
 * True when the operator wrote `secret` for `owner`: it carries the operator's managed-by label,
 * names the resource in the service-account label, and has a controller ownerReference with the
 * resource's uid. A Secret that a person or another resource created lacks at least the
 * ownerReference, so the operator never overwrites or deletes it.
 */
export function ownsSecret(owner: ServiceAccount, secret: V1Secret): boolean {
  const labels = secret.metadata?.labels ?? {};
  if (labels[managedByLabel] !== managedByValue) return false;
  if (labels[tokenSecretLabel] !== owner.metadata.name) return false;
  return (secret.metadata?.ownerReferences ?? []).some(
    (reference) => reference.uid === owner.metadata.uid && reference.controller === true,
  );
}

/** A token Secret exists that the operator did not write for this resource. */
export class SecretConflictError extends Error {
  readonly namespace: string;
  readonly secretName: string;

  constructor(namespace: string, secretName: string) {
    super(
      `Secret ${namespace}/${secretName} exists and was not written by the operator for this resource`,
    );
    this.name = 'SecretConflictError';
    this.namespace = namespace;
    this.secretName = secretName;
  }
}

/** A credentials Secret that is missing or lacks a key; `reason` is a condition reason. */
export class SecretUnusableError extends Error {
  readonly reason: 'SecretNotFound' | 'SecretKeyMissing';

  constructor(reason: 'SecretNotFound' | 'SecretKeyMissing', message: string) {
    super(message);
    this.name = 'SecretUnusableError';
    this.reason = reason;
  }
}

/** Reads Tenant resources and writes their status. */
export class TenantResources {
  private readonly customObjects: CustomObjectsApi;

  constructor(config: KubeConfig) {
    this.customObjects = config.makeApiClient(CustomObjectsApi);
  }

  async listAll(): Promise<{ items: Tenant[]; metadata?: { resourceVersion?: string } }> {
    return this.customObjects.listClusterCustomObject({ group, version, plural: tenantPlural });
  }

  /**
   * Reads one Tenant with a list call filtered by name, which the operator's RBAC (list and
   * watch, no get) allows. Returns undefined when it does not exist.
   */
  async find(name: string): Promise<Tenant | undefined> {
    const list: { items: Tenant[] } = await this.customObjects.listClusterCustomObject({
      group,
      version,
      plural: tenantPlural,
      fieldSelector: `metadata.name=${name}`,
    });
    const tenant = list.items[0];
    if (!tenant) return undefined;
    // List items carry no apiVersion and kind, which Events need for their involvedObject.
    return { ...tenant, apiVersion: `${group}/${version}`, kind: 'Tenant' };
  }

  async patchStatus(tenant: Tenant, status: TenantStatus): Promise<Tenant> {
    return this.customObjects.patchClusterCustomObjectStatus(
      {
        group,
        version,
        plural: tenantPlural,
        name: tenant.metadata.name,
        body: { metadata: { resourceVersion: tenant.metadata.resourceVersion }, status },
      },
      mergePatch,
    );
  }
}

/** Creates a cluster-scoped Tenant resource with `spec` (the demo, benchmarks and tests use it). */
export async function createTenant(
  customObjects: CustomObjectsApi,
  name: string,
  spec: TenantSpec,
  annotations?: Record<string, string>,
): Promise<void> {
  await customObjects.createClusterCustomObject({
    group,
    version,
    plural: tenantPlural,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'Tenant',
      metadata: { name, ...(annotations ? { annotations } : {}) },
      spec,
    },
  });
}

/** True for a Kubernetes 409, which a controller retries quietly. */
export function isConflict(error: unknown): boolean {
  return error instanceof ApiException && error.code === 409;
}
