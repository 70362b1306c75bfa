import type { KubernetesObject } from '@kubernetes/client-node';

export const group = 'isc.sailpoint';
export const version = 'v1alpha1';
export const serviceAccountPlural = 'serviceaccounts';
export const tenantPlural = 'tenants';

/** Annotation that marks the Tenant used by ServiceAccounts without spec.tenantRef. */
export const defaultTenantAnnotation = 'isc.sailpoint/default-tenant';
/** Name of the Tenant that is the default when none carries the annotation. */
export const defaultTenantName = 'default';

/** Finalizer that keeps a resource until its ISC account is deleted (deletionPolicy Delete). */
export const accountFinalizer = 'isc.sailpoint/account-cleanup';

/** Annotation that, set to "true", stops every write for one resource until it is removed. */
export const pausedAnnotation = 'isc.sailpoint/paused';

/** Annotation whose new value requests one more invitation mail. */
export const resendInviteAnnotation = 'isc.sailpoint/resend-invite';

/** Annotation whose new value requests an immediate reconcile (recorded in status when done). */
export const reconcileNowAnnotation = 'isc.sailpoint/reconcile-now';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** A status condition in the shape of Kubernetes' metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface ServiceAccountSpec {
  tenantRef?: { name: string };
  name?: string;
  accountId?: string;
  email: string;
  purpose?: string;
  attributes?: Record<string, string>;
  /** Delete (default): the account is deleted with the resource. Orphan: it stays in ISC. */
  deletionPolicy?: 'Delete' | 'Orphan';
  /** Take over an account with this id that the operator did not create. */
  adopt?: boolean;
  /** User levels (capabilities) the identity should have; empty means the basic level. */
  userLevel?: string[];
  bootstrapCredentialsSecretRef?: { name: string; rotation?: BootstrapRotationSpec };
  tokens?: TokenSpec[];
  /** Send ISC's invitation mail once the identity exists (default true). */
  invite?: boolean;
  /** Full (default): create, update and delete. ObserveOnly: read ISC and report, never write. */
  managementPolicy?: 'Full' | 'ObserveOnly';
}

/** Rotation timing of a PAT with an expiry: when it is replaced, how long the old one works. */
export interface RotationSettings {
  /** Hours before expiry at which a new PAT replaces the current one (default 168). */
  rotateBeforeExpiryHours?: number;
  /** Minutes the replaced PAT keeps working after the Secret contains its successor (default 60). */
  rotationGracePeriodMinutes?: number;
}

export interface TokenSpec extends RotationSettings {
  name: string;
  scopes?: string[];
  accessTokenValiditySeconds?: number;
  validForDays?: number;
  secretName: string;
}

/** Opt-in rotation of the bootstrap credential by the operator, with the credential itself. */
export interface BootstrapRotationSpec extends RotationSettings {
  /** Days until each PAT the operator writes into the bootstrap Secret expires. */
  validForDays: number;
}

export interface TokenStatus {
  name: string;
  id?: string;
  /** PAT name in ISC: the spec name, with a `-rN` suffix after the Nth rotation. */
  iscName?: string;
  rotations?: number;
  /** PAT replaced by the last rotation, deleted at `retireAt`. */
  previousId?: string;
  retireAt?: string;
  secretName?: string;
  createdAt?: string;
  expiresAt?: string;
  requestedAt?: string;
  /** Scopes last applied to the PAT, sorted; `sp:scopes:all` when the spec lists none. */
  scopes?: string[];
  /** When the scopes were changed, until a new access token of the PAT carries them. */
  scopesChangedAt?: string;
}

/** The bootstrap credential as the operator rotates it (spec.bootstrapCredentialsSecretRef). */
export interface BootstrapCredentialStatus {
  /** PAT the operator wrote into the bootstrap Secret; another client id there is not its own. */
  id?: string;
  iscName?: string;
  rotations?: number;
  expiresAt?: string;
  /** PAT replaced by the last rotation, deleted at `retireAt`. */
  previousId?: string;
  retireAt?: string;
  /** A rotation in flight, recorded before the PAT is created and cleared once status records it. */
  rotation?: {
    requestedAt: string;
    /** ISC name of the PAT being created. */
    iscName: string;
    /** Client id the bootstrap Secret held when the rotation started. */
    replacing: string;
    expiresAt: string;
  };
}

/** Label on Secrets the operator writes, naming the ServiceAccount they belong to. */
export const tokenSecretLabel = 'isc.sailpoint/service-account';

export interface ServiceAccountStatus {
  observedGeneration?: number;
  accountName?: string;
  accountId?: string;
  identityId?: string;
  tokens?: TokenStatus[];
  bootstrapCredentials?: BootstrapCredentialStatus | null;
  /** User levels the operator added to the identity. */
  userLevelsAdded?: string[];
  invitation?: {
    sentAt?: string;
    count?: number;
    handledResendRequest?: string;
    registered?: boolean;
  };
  /** Tenant the account lives in, recorded at the first reconcile. */
  tenant?: string;
  /** True once the operator created or adopted the account; only then may it change or delete it. */
  accountOwned?: boolean;
  lastHandledReconcileAt?: string;
  /** When the operator last asked ISC to create the account, until the account shows up. */
  accountCreateRequestedAt?: string | null;
  conditions?: Condition[];
}

export interface ServiceAccount extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string; namespace: string };
  spec: ServiceAccountSpec;
  status?: ServiceAccountStatus;
}

/** `namespace/name`, the work-queue key of a namespaced object. */
export function objectKey(object: { metadata?: { namespace?: string; name?: string } }): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export interface TenantSpec {
  baseUrl: string;
  apiVersion?: 'v2025' | 'per-service';
  credentialsSecretRef: { namespace: string; name: string };
  source?: { name?: string };
  identityProfile?: { name?: string };
  owner?: { identityId?: string };
  rateLimit?: { requestsPer10Seconds?: number };
  policy?: { allowedUserLevels?: string[] };
  /** api (default): one call per account change. csv: one account file upload per batch. */
  syncMode?: 'api' | 'csv';
  batchWindowSeconds?: number;
  deleteGuard?: { maxPercent?: number };
}

/** The last account file upload of a csv-mode tenant. */
export interface LastUpload {
  time: string;
  rows: number;
  taskId?: string;
  result: string;
  /** ISC's task messages; null removes an earlier upload's message in a merge patch. */
  message?: string | null;
  created?: number;
  updated?: number;
  removed?: number;
  /** `task` when the counts are ISC's task result, `diff` when they are the operator's plan. */
  countsFrom?: 'task' | 'diff';
  sha256: string;
  /** namespace/name of the ConfigMap that contains this upload's file; null when none does. */
  configMap?: string | null;
  /** Reason that no ConfigMap contains this upload's file; null once one does. */
  fileNotKept?: string | null;
}

export interface TenantStatus {
  observedGeneration?: number;
  sourceId?: string;
  identityProfileId?: string;
  credentialIdentityId?: string;
  capabilities?: string[];
  problems?: string[];
  lastUpload?: LastUpload;
  conditions?: Condition[];
}

export interface Tenant extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string };
  spec: TenantSpec;
  status?: TenantStatus;
}
