import type { IscApi } from '../isc/api.ts';
import { IscAmbiguousError, IscApiError, IscNetworkError, isIscError } from '../isc/errors.ts';
import type { Account, Identity } from '../isc/types.ts';
import type { ServiceAccountResources } from '../kube/client.ts';
import type { EventNote } from '../kube/events.ts';
import {
  accountFinalizer,
  reconcileNowAnnotation,
  resendInviteAnnotation,
  type ServiceAccount,
  type ServiceAccountStatus,
} from '../kube/types.ts';
import { claimsSameAccount } from './claim-index.ts';
import type { AccountRead, IdentityRead, InvitationFailure } from './identity-batch.ts';
import type { TenantSetup } from './tenant.ts';
import { ensureTokens, revokeTokens } from './tokens.ts';

export interface ReconcileDeps {
  resources: ServiceAccountResources;
  api: IscApi;
  tenant: TenantSetup;
  /**
   * The other ServiceAccounts that may claim the same account id or name as the resource; a
   * superset is fine, the reconcile compares the fields itself.
   */
  peers: (resource: ServiceAccount) => readonly ServiceAccount[];
  /** How long an accepted create may take to show up before it is sent again. */
  accountCreateTimeoutMs: number;
  /** Deletes this controller sent and is waiting for, by resource uid and time sent. */
  pendingDeletes: Map<string, number>;
  /** Attribute updates sent and not yet visible, by resource uid: what was sent, and when. */
  pendingUpdates: Map<string, { attributes: string; sentAt: number }>;
  /**
   * Identities already seen to carry the mapped e-mail, by resource uid, as
   * `identityId|email|generation`. A match skips the identity read, so a steady-state resync
   * reads accounts only.
   */
  verifiedIdentities: Map<string, string>;
  /**
   * ISC access as the service account itself, from its bootstrap credentials Secret, for
   * minting its personal access tokens; a string explains why there is none.
   */
  serviceAccountApi: (resource: ServiceAccount) => Promise<IscApi | string>;
  /**
   * Scopes of a new access token requested with the credential in a token Secret, or undefined
   * when the Secret is missing.
   */
  grantedScopes: (namespace: string, secretName: string) => Promise<string[] | undefined>;
  /** Drops every cached ISC client, and its access token, of the credential with this client id. */
  forgetCredential: (clientId: string) => void;
  /** Tenant API root written into token Secrets. */
  tenantBaseUrl: string;
  /** User levels the tenant's policy lets resources request. */
  allowedUserLevels: ReadonlySet<string>;
  /**
   * csv sync mode: the tenant's batcher, which creates, changes and removes accounts with one
   * account file upload per batch. Absent in api mode, where each change is its own call.
   */
  batch?: AccountBatch;
  /**
   * The tenant's bulk identity reads and invitations, for this resource. Without it each read and
   * invitation is a request of its own.
   */
  identities?: IdentityAccess;
  /** Account lookup for this reconcile: the resync snapshot, or by default one direct lookup. */
  lookupAccount?: (sourceId: string, nativeIdentity: string) => Promise<Account | undefined>;
  now: () => Date;
}

/** The part of the tenant's IdentityBatch a reconcile uses, bound to its resource. */
export interface IdentityAccess {
  read(identityId: string): IdentityRead;
  /** Looks an account id up in the tenant's next bulk account read. */
  account(sourceId: string, nativeIdentity: string): AccountRead;
  /** Queues the invitation; `previous` is the invitation status to restore if ISC refuses it. */
  invite(identityId: string, previous: InvitationStatus): void;
  takeInvitationFailure(identityId: string): InvitationFailure | undefined;
}

type InvitationStatus = NonNullable<NonNullable<ServiceAccount['status']>['invitation']>;

/** The part of the csv-mode batcher a reconcile uses. */
export interface AccountBatch {
  /** Hands the resource's row to the next upload; `claim` records that it owns the account. */
  submit(resource: ServiceAccount, claim: boolean): 'scheduled' | 'landed';
  /** False while an upload that carries the resource's row runs or waits for its window. */
  settled(uid: string): boolean;
}

/** Result of one reconcile, which the controller turns into conditions and requeues. */
export type Outcome =
  | {
      kind: 'ready';
      reason: 'Converged' | 'Observed';
      message: string;
      /** ObserveOnly: how ISC differs from the spec, reported as Synced=False. */
      drift?: string;
    }
  /** ISC is doing asynchronous work; poll again with a growing delay. */
  | { kind: 'waiting'; reason: string; message: string }
  /** The reconcile changed the resource itself; the watch event brings it back. */
  | { kind: 'resource-updated' }
  /**
   * The reconcile joined a bulk read and ends without touching status; the read queues the
   * resource again when its result is in.
   */
  | { kind: 'deferred' }
  /** Cannot converge until someone changes the resource or the tenant: no fast retries. */
  | { kind: 'stalled'; reason: string; message: string };

export interface ReconcileResult {
  outcome: Outcome;
  /** Status fields learned in this reconcile, merged over the current status. */
  observed: Pick<
    ServiceAccountStatus,
    | 'accountName'
    | 'accountId'
    | 'identityId'
    | 'accountOwned'
    | 'tenant'
    | 'invitation'
    | 'userLevelsAdded'
    | 'tokens'
    | 'bootstrapCredentials'
  >;
  /** Kubernetes Events to record on the resource. */
  events: EventNote[];
}

/** Account name in ISC: spec.name, else the resource's name. */
export function accountNameOf(resource: ServiceAccount): string {
  return resource.spec.name ?? resource.metadata.name;
}

/** Returns a stable account id for a resource created without one, derived from its uid. */
export function generatedAccountId(resource: ServiceAccount): string {
  const uid = resource.metadata.uid ?? '';
  return `sa-${uid.replace(/-/g, '').slice(0, 12)}`;
}

/** Returns the account's attributes as the source's CSV columns would contain them. */
export function desiredAccountAttributes(resource: ServiceAccount): Record<string, string> {
  return {
    ...resource.spec.attributes,
    id: resource.spec.accountId ?? generatedAccountId(resource),
    name: accountNameOf(resource),
    'e-mail': resource.spec.email,
    purpose: resource.spec.purpose ?? '',
  };
}

function wantsDeletion(resource: ServiceAccount): boolean {
  return (resource.spec.deletionPolicy ?? 'Delete') === 'Delete';
}

/**
 * Brings one ServiceAccount's account and identity in ISC in line with its spec. Each step
 * either returns early with the reason it cannot go on yet, or hands over to the next.
 * ISC and Kubernetes errors propagate to the caller, which sorts them by kind.
 */
export async function reconcileServiceAccount(
  deps: ReconcileDeps,
  resource: ServiceAccount,
): Promise<ReconcileResult> {
  const events: EventNote[] = [];
  const observed: ReconcileResult['observed'] = { accountName: accountNameOf(resource) };
  const result = (outcome: Outcome): ReconcileResult => ({ outcome, observed, events });

  if (resource.metadata.deletionTimestamp) return finalize(deps, resource);
  if (resource.spec.managementPolicy === 'ObserveOnly') return observe(deps, resource);

  // The finalizer goes on before anything exists in ISC, so no account can outlive its
  // resource unnoticed; with deletionPolicy Orphan it is not needed.
  const finalizers = resource.metadata.finalizers ?? [];
  const hasFinalizer = finalizers.includes(accountFinalizer);
  if (wantsDeletion(resource) !== hasFinalizer) {
    const next = hasFinalizer
      ? finalizers.filter((name) => name !== accountFinalizer)
      : [...finalizers, accountFinalizer];
    await deps.resources.setFinalizers(resource, next);
    return result({ kind: 'resource-updated' });
  }

  // The id goes into the spec before anything exists in ISC, so that a restore of the
  // resource with a new uid still finds the same account.
  if (!resource.spec.accountId) {
    await deps.resources.patchSpec(resource, { accountId: generatedAccountId(resource) });
    return result({ kind: 'resource-updated' });
  }
  const accountId = resource.spec.accountId;

  const rival = findRival(resource, deps.peers(resource));
  if (rival) {
    return result({
      kind: 'stalled',
      reason: 'DuplicateAccountId',
      message:
        `ServiceAccount ${rival.metadata.namespace}/${rival.metadata.name} already claims ` +
        (rival.spec.accountId?.toLowerCase() === accountId.toLowerCase()
          ? `account id "${rival.spec.accountId}". spec.accountId is immutable, so delete this ` +
            'resource and create it again with another spec.accountId'
          : `account name "${accountNameOf(rival)}". The name (spec.name, else metadata.name) ` +
            'is immutable, so delete this resource and create it again with another spec.name ' +
            'or metadata.name'),
    });
  }

  const refused = (resource.spec.userLevel ?? []).filter(
    (level) => !deps.allowedUserLevels.has(level),
  );
  if (refused.length > 0) {
    return result({
      kind: 'stalled',
      reason: 'UserLevelNotAllowed',
      message:
        `spec.userLevel asks for ${refused.join(', ')}, which the Tenant's policy does not ` +
        'allow (spec.policy.allowedUserLevels, which defaults to every level but ORG_ADMIN)',
    });
  }

  let { source, accountSchema } = await deps.tenant.ensure();
  let schemaNames = new Set(accountSchema.attributes.map((attribute) => attribute.name));
  const unknownAttributes = () =>
    Object.keys(resource.spec.attributes ?? {}).filter((name) => !schemaNames.has(name));
  if (unknownAttributes().length > 0) {
    // The cached schema may predate an attribute someone just added: read it again once.
    deps.tenant.invalidate();
    ({ source, accountSchema } = await deps.tenant.ensure());
    schemaNames = new Set(accountSchema.attributes.map((attribute) => attribute.name));
  }
  const unknown = unknownAttributes();
  if (unknown.length > 0) {
    return result({
      kind: 'stalled',
      reason: 'InvalidSpec',
      message:
        `spec.attributes names ${unknown.join(', ')}, which the account schema of source ` +
        `"${source.name}" lacks; add them to the schema or remove them from the resource`,
    });
  }

  const desired = desiredAccountAttributes(resource);
  let account: Account | undefined;
  if (deps.lookupAccount) {
    account = await deps.lookupAccount(source.id, accountId);
  } else if (deps.identities) {
    // One read for up to 100 resources: a burst of new resources, and resources polling for
    // their account or identity, would otherwise spend one call each on the tenant's limit.
    const read = deps.identities.account(source.id, accountId);
    if (read.state === 'pending') return result({ kind: 'deferred' });
    if (read.state === 'failed') throw read.error;
    if (read.accounts.length > 1) {
      throw new IscAmbiguousError(
        `accounts with id "${accountId}" on source ${source.id}`,
        read.accounts.map((found) => found.id),
      );
    }
    account = read.accounts[0];
  } else {
    account = await deps.api.findAccount(source.id, accountId);
  }
  if (!account && deps.batch) {
    return result(await createInBatch(deps, deps.batch, resource, events));
  }
  if (!account && deps.lookupAccount) {
    // A resync's snapshot can be older than a create this resource sent, and the create
    // timeout may have passed meanwhile. Only a direct read may justify sending a create.
    account = await deps.api.findAccount(source.id, accountId);
  }
  if (!account) {
    const outcome = await createAccount(deps, resource, source.id, desired);
    if (outcome.reason === 'CreatingAccount') {
      events.push({ type: 'Normal', reason: 'CreatingAccount', message: outcome.message });
    }
    return result(outcome);
  }
  observed.accountId = account.id;

  // An account this resource neither created nor adopted belongs to someone else: a person
  // who added it by hand, or another system. Nothing is changed without consent.
  if (!resource.status?.accountOwned) {
    if (resource.status?.accountCreateRequestedAt) {
      observed.accountOwned = true;
    } else if (resource.spec.adopt) {
      observed.accountOwned = true;
      events.push({
        type: 'Normal',
        reason: 'AdoptedAccount',
        message: `adopted existing account ${account.id} (${accountId}) on source "${source.name}"`,
      });
    } else {
      return result({
        kind: 'stalled',
        reason: 'AccountNotOwned',
        message:
          `account ${accountId} already exists on source "${source.name}" (ISC id ` +
          `${account.id}) and was not created by this resource; set spec.adopt: true to manage ` +
          'it, or choose another accountId',
      });
    }
  }

  const uid = resource.metadata.uid ?? '';
  if (!attributesMatch(account, desired, schemaNames)) {
    // ISC applies updates asynchronously; sending the same update again while the first is in
    // flight would only add calls and Events.
    const serialized = JSON.stringify(desired);
    const pending = deps.pendingUpdates.get(uid);
    const now = deps.now().getTime();
    const inFlight =
      pending?.attributes === serialized && now - pending.sentAt < deps.accountCreateTimeoutMs;
    if (deps.batch) {
      const submitted = deps.batch.submit(resource, true);
      const message = `account ${account.id} differs from the spec; the next account file upload carries the change`;
      if (!inFlight) {
        deps.pendingUpdates.set(uid, { attributes: serialized, sentAt: now });
        deps.verifiedIdentities.delete(uid);
        events.push({ type: 'Normal', reason: 'UpdatingAccount', message });
      }
      return result({
        kind: 'waiting',
        reason: submitted === 'scheduled' ? 'WaitingForUpload' : 'UpdatingAccount',
        message,
      });
    }
    const message = `ISC accepted new attributes for account ${account.id}; waiting until they apply`;
    if (!inFlight) {
      await deps.api.updateAccount(account.id, desired);
      deps.pendingUpdates.set(uid, { attributes: serialized, sentAt: now });
      deps.verifiedIdentities.delete(uid);
      events.push({ type: 'Normal', reason: 'UpdatingAccount', message });
    }
    return result({ kind: 'waiting', reason: 'UpdatingAccount', message });
  }
  deps.pendingUpdates.delete(uid);

  if (!account.identityId) {
    await deps.tenant.requestIdentityProcessing();
    return result({
      kind: 'waiting',
      reason: 'WaitingForIdentity',
      message: `account ${account.id} exists; waiting for ISC to create its identity`,
    });
  }
  observed.identityId = account.identityId;

  // The generation is part of the key, so that every spec change reads the identity once and
  // notices a registration, as a reconcile-now request does.
  const verifiedIdentity = `${account.identityId}|${desired['e-mail']!.toLowerCase()}|`;
  const verification = `${verifiedIdentity}${resource.metadata.generation ?? ''}`;
  const identityId = account.identityId;
  // A reconcile-now request reads the identity again, e.g. to notice a registration.
  const requested = resource.metadata.annotations?.[reconcileNowAnnotation];
  const readRequested =
    requested !== undefined && requested !== resource.status?.lastHandledReconcileAt;
  const verified =
    deps.verifiedIdentities.get(uid) === verification ||
    convergedWithIdentity(resource, account.identityId);
  const verifiedBefore = verified || deps.verifiedIdentities.get(uid)?.startsWith(verifiedIdentity);
  if (!readRequested && verified) {
    deps.verifiedIdentities.set(uid, verification);
    await ensureInvitation(deps, resource, identityId, undefined, observed, events);
    await ensureUserLevels(deps, resource, identityId, observed, events);
    const tokenProblem = await ensureTokens(deps, resource, observed, events);
    if (tokenProblem) return result(tokenProblem);
    return result({
      kind: 'ready',
      reason: 'Converged',
      message: `account ${account.id} and identity ${account.identityId} match the spec`,
    });
  }
  let identity: Identity | undefined;
  if (deps.identities) {
    const read = deps.identities.read(account.identityId);
    if (read.state === 'pending') {
      // An identity verified before is only read again, so its resource keeps its conditions
      // meanwhile. A reconcile-now request stays unhandled until the read result is applied.
      if (verifiedBefore) return result({ kind: 'deferred' });
      return result({
        kind: 'waiting',
        reason: 'WaitingForIdentity',
        message: `account ${account.id} exists; reading identity ${account.identityId}`,
      });
    }
    if (read.state === 'failed') throw read.error;
    identity = read.identity;
  } else {
    identity = await deps.api.getIdentity(account.identityId);
  }
  const email = identity?.attributes?.email;
  const emailCurrent =
    typeof email === 'string' && email.toLowerCase() === desired['e-mail']!.toLowerCase();
  if (!identity || !emailCurrent) {
    await deps.tenant.requestIdentityProcessing();
    return result({
      kind: 'waiting',
      reason: 'RefreshingIdentity',
      message: `waiting for ISC to apply the profile's mappings to identity ${account.identityId}`,
    });
  }

  deps.verifiedIdentities.set(uid, verification);
  await ensureInvitation(deps, resource, identityId, identity.identityStatus, observed, events);
  await ensureUserLevels(deps, resource, identityId, observed, events);
  const tokenProblem = await ensureTokens(deps, resource, observed, events);
  if (tokenProblem) return result(tokenProblem);
  return result({
    kind: 'ready',
    reason: 'Converged',
    message: `account ${account.id} and identity ${identity.id} match the spec`,
  });
}

/**
 * Gives the identity the requested user levels. ISC replaces the whole capability list on each
 * update, so the operator reads it, adds what the spec requests, removes only levels it added
 * itself that the spec no longer lists, and keeps every level a person set.
 */
async function ensureUserLevels(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  identityId: string,
  observed: ReconcileResult['observed'],
  events: EventNote[],
): Promise<void> {
  const wanted = resource.spec.userLevel ?? [];
  const added = resource.status?.userLevelsAdded ?? [];
  if (wanted.length === 0 && added.length === 0) return;

  const current = (await deps.api.getAuthUserCapabilities(identityId)) ?? [];
  const withdrawn = added.filter((level) => !wanted.includes(level));
  const next = [...new Set([...current.filter((level) => !withdrawn.includes(level)), ...wanted])];
  const addedNext = [
    ...new Set([
      ...added.filter((level) => wanted.includes(level)),
      ...wanted.filter((level) => !current.includes(level)),
    ]),
  ].sort();

  const changed = next.length !== current.length || next.some((level) => !current.includes(level));
  if (changed) {
    await deps.api.setAuthUserCapabilities(identityId, next);
    events.push({
      type: 'Normal',
      reason: 'UpdatedUserLevels',
      message: `set the user levels of identity ${identityId} to [${next.join(', ')}]`,
    });
  }
  if (addedNext.join(',') !== [...added].sort().join(',')) observed.userLevelsAdded = addedNext;
}

/** Removes the user levels the operator added, before its resource goes away. */
async function withdrawUserLevels(deps: ReconcileDeps, resource: ServiceAccount): Promise<void> {
  const added = resource.status?.userLevelsAdded ?? [];
  const identityId = resource.status?.identityId;
  if (added.length === 0 || !identityId) return;
  const current = await deps.api.getAuthUserCapabilities(identityId);
  if (current === undefined) return;
  const next = current.filter((level) => !added.includes(level));
  if (next.length !== current.length) await deps.api.setAuthUserCapabilities(identityId, next);
}

/** How long an ISC invitation link stays valid. */
const invitationLifetimeMs = 7 * 24 * 60 * 60 * 1000;
/** identityStatus values of an identity whose user completed the invitation. */
const registeredStatuses = new Set(['REGISTERED', 'ACTIVE']);

/**
 * Tells whether an earlier reconcile, possibly of another operator process, found this spec
 * converged with this identity: Ready is True for the current generation and status names the
 * same identity. The e-mail it verified is then the current spec's, since a spec change raises
 * the generation. Without this, every restart, upgrade or leader change read every identity
 * once more (1,026 reads at N=1,000, about 100 s of the tenant's rate limit).
 */
function convergedWithIdentity(resource: ServiceAccount, identityId: string): boolean {
  const status = resource.status;
  if (status?.identityId !== identityId) return false;
  const ready = status.conditions?.find((condition) => condition.type === 'Ready');
  return (
    ready?.status === 'True' &&
    ready.reason === 'Converged' &&
    ready.observedGeneration === resource.metadata.generation
  );
}

/**
 * Handles a batched invitation request of this resource that failed. A client error (4xx other
 * than 408 and 429) means ISC sent no mail: the attempt is taken back from status and the error
 * reported, so the invitation goes out once the cause is fixed. After a timeout or a 5xx the mail
 * may have gone out; the attempt stays recorded and a Warning explains how to send it again.
 */
async function reportInvitationFailure(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  identityId: string,
  events: EventNote[],
): Promise<void> {
  const failure = deps.identities?.takeInvitationFailure(identityId);
  if (!failure) return;
  const { error } = failure;
  const refused =
    error instanceof IscApiError && error.status < 500 && ![408, 429].includes(error.status);
  if (refused) {
    const previous = failure.context as InvitationStatus;
    // A merge patch removes a field only when it is sent as null.
    const restored = {
      sentAt: previous.sentAt ?? null,
      count: previous.count ?? null,
      handledResendRequest: previous.handledResendRequest ?? null,
    } as unknown as InvitationStatus;
    const patched = await deps.resources.patchStatus(resource, { invitation: restored });
    resource.metadata.resourceVersion = patched.metadata.resourceVersion;
    resource.status = { ...resource.status, invitation: previous };
    throw error;
  }
  events.push({
    type: 'Warning',
    reason: 'InvitationUncertain',
    message:
      `the invitation request for identity ${identityId} got no clear answer ` +
      `(${error instanceof Error ? error.message : String(error)}); ISC may not have sent ` +
      `the mail. Set the ${resendInviteAnnotation} annotation to a new value to send it again`,
  });
}

/**
 * Sends ISC's invitation mail once per resource, once more if it expired unanswered, and again
 * when the resend annotation gets a new value. The request is recorded in status before it is
 * sent, so a crash between the two loses one invitation rather than sending two; the expiry
 * rule and the annotation cover that case. `identityStatus` is undefined when the identity was
 * not read in this reconcile.
 */
async function ensureInvitation(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  identityId: string,
  identityStatus: string | undefined,
  observed: ReconcileResult['observed'],
  events: EventNote[],
): Promise<void> {
  if (resource.spec.invite === false) return;
  await reportInvitationFailure(deps, resource, identityId, events);
  const invitation = resource.status?.invitation ?? {};
  if (identityStatus !== undefined && registeredStatuses.has(identityStatus)) {
    if (!invitation.registered) observed.invitation = { ...invitation, registered: true };
    return;
  }
  if (invitation.registered) return;

  const resendRequest = resource.metadata.annotations?.[resendInviteAnnotation];
  const resendWanted =
    resendRequest !== undefined && resendRequest !== invitation.handledResendRequest;
  const now = deps.now().getTime();
  const sentAt = invitation.sentAt === undefined ? undefined : Date.parse(invitation.sentAt);
  const expired =
    sentAt !== undefined && now - sentAt > invitationLifetimeMs && (invitation.count ?? 0) < 2;
  if (sentAt !== undefined && !resendWanted && !expired) return;
  if (identityStatus === undefined) {
    // Only an identity that is still unregistered needs another invitation.
    const status = (await deps.api.getIdentity(identityId))?.identityStatus;
    if (status !== undefined && registeredStatuses.has(status)) {
      observed.invitation = { ...invitation, registered: true };
      return;
    }
  }

  const next = {
    ...invitation,
    sentAt: new Date(now).toISOString(),
    count: (invitation.count ?? 0) + 1,
    ...(resendWanted ? { handledResendRequest: resendRequest } : {}),
  };
  const marked = await deps.resources.patchStatus(resource, { invitation: next });
  resource.metadata.resourceVersion = marked.metadata.resourceVersion;
  resource.status = { ...resource.status, invitation: next };
  if (deps.identities) deps.identities.invite(identityId, invitation);
  else await deps.api.inviteIdentities([identityId]);
  observed.invitation = next;
  events.push({
    type: 'Normal',
    reason: 'SentInvitation',
    message: `asked ISC to send the invitation mail to identity ${identityId} (${resource.spec.email})`,
  });
}

/**
 * Reads the account and identity of an ObserveOnly resource and reports them; never writes to
 * ISC. A finalizer left from an earlier Full policy is removed, since nothing will be deleted.
 */
async function observe(deps: ReconcileDeps, resource: ServiceAccount): Promise<ReconcileResult> {
  const events: EventNote[] = [];
  const observed: ReconcileResult['observed'] = { accountName: accountNameOf(resource) };
  const result = (outcome: Outcome): ReconcileResult => ({ outcome, observed, events });

  const finalizers = resource.metadata.finalizers ?? [];
  if (finalizers.includes(accountFinalizer)) {
    await deps.resources.setFinalizers(
      resource,
      finalizers.filter((name) => name !== accountFinalizer),
    );
    return result({ kind: 'resource-updated' });
  }
  const accountId = resource.spec.accountId;
  if (!accountId) {
    return result({
      kind: 'stalled',
      reason: 'InvalidSpec',
      message: 'managementPolicy ObserveOnly needs spec.accountId to know which account to read',
    });
  }

  const { source, accountSchema } = await deps.tenant.observe();
  const account = await (deps.lookupAccount ?? deps.api.findAccount.bind(deps.api))(
    source.id,
    accountId,
  );
  if (!account) {
    return result({
      kind: 'waiting',
      reason: 'AccountNotFound',
      message: `account ${accountId} does not exist on source "${source.name}"`,
    });
  }
  observed.accountId = account.id;
  if (account.identityId) observed.identityId = account.identityId;

  const desired = desiredAccountAttributes(resource);
  const current = account.attributes ?? {};
  const names = new Set([...accountSchema.attributes.map((a) => a.name), ...Object.keys(desired)]);
  const differing = [...names].filter((name) => (current[name] ?? '') !== (desired[name] ?? ''));
  const drift =
    differing.length > 0
      ? `ISC differs from the spec in ${differing.join(', ')}`
      : account.identityId
        ? undefined
        : 'the account has no identity';
  return result({
    kind: 'ready',
    reason: 'Observed',
    message: `account ${account.id} exists on source "${source.name}" (observed, not managed)`,
    ...(drift === undefined ? {} : { drift }),
  });
}

/**
 * Decides whether a deleting resource may drop its finalizer while its Tenant cannot be used,
 * because the deletion needs nothing from ISC: deletionPolicy Orphan, managementPolicy
 * ObserveOnly, or no account, PAT or user level that this resource created or adopted. Returns the
 * message of the Event that records the release, or undefined when the deletion needs ISC.
 */
export function releaseWithoutTenant(
  resource: ServiceAccount,
  tenant: { name: string | undefined; reason: string },
): string | undefined {
  const account = resource.spec.accountId ? `account ${resource.spec.accountId}` : 'any account';
  const unused =
    `removed the finalizer without contacting ISC, because Tenant "${tenant.name ?? 'default'}" ` +
    `is not usable (${tenant.reason})`;
  if (!wantsDeletion(resource)) {
    return `deletionPolicy Orphan: left ${account} in ISC and ${unused}`;
  }
  if (resource.spec.managementPolicy === 'ObserveOnly') {
    return `managementPolicy ObserveOnly: left ${account} in ISC and ${unused}`;
  }
  // A recorded create request, even an old one, may have created the account, and the PATs
  // and user levels this resource added must be revoked and withdrawn. All of these need ISC.
  const status = resource.status;
  const mayOwn =
    status?.accountOwned === true ||
    Boolean(status?.accountCreateRequestedAt) ||
    (status?.userLevelsAdded?.length ?? 0) > 0 ||
    (status?.tokens?.length ?? 0) > 0 ||
    status?.bootstrapCredentials?.previousId !== undefined;
  if (mayOwn) return undefined;
  return `this resource never created or adopted an account, so nothing in ISC is deleted; ${unused}`;
}

/**
 * Runs while the resource is being deleted. Under deletionPolicy Delete it revokes the PATs
 * the resource minted, deletes an owned account, waits until ISC no longer lists it, then
 * releases the finalizer.
 */
async function finalize(deps: ReconcileDeps, resource: ServiceAccount): Promise<ReconcileResult> {
  const events: EventNote[] = [];
  const observed: ReconcileResult['observed'] = { accountName: accountNameOf(resource) };
  const finalizers = resource.metadata.finalizers ?? [];
  if (!finalizers.includes(accountFinalizer)) {
    return { outcome: { kind: 'resource-updated' }, observed, events };
  }
  const release = async (reason: string, message: string): Promise<ReconcileResult> => {
    deps.pendingDeletes.delete(resource.metadata.uid ?? '');
    await deps.resources.setFinalizers(
      resource,
      finalizers.filter((name) => name !== accountFinalizer),
    );
    events.push({ type: 'Normal', reason, message });
    return { outcome: { kind: 'resource-updated' }, observed, events };
  };

  const accountId = resource.spec.accountId;
  const observeOnly = resource.spec.managementPolicy === 'ObserveOnly';
  // A create this resource sent makes the account its own, even before ISC shows it.
  const requestedAt = resource.status?.accountCreateRequestedAt;
  const createInFlight =
    requestedAt !== undefined &&
    requestedAt !== null &&
    deps.now().getTime() - Date.parse(requestedAt) < deps.accountCreateTimeoutMs;
  // In csv mode a recorded create request owns the account for good: the upload either
  // carried the row or will.
  const owned =
    resource.status?.accountOwned === true ||
    createInFlight ||
    (deps.batch !== undefined && Boolean(requestedAt));
  if (deps.batch && !deps.batch.settled(resource.metadata.uid ?? '')) {
    return {
      outcome: {
        kind: 'waiting',
        reason: 'DeletingAccount',
        message: 'waiting for the account file upload that carries this account to finish',
      },
      observed,
      events,
    };
  }
  // Orphan leaves everything in ISC, the PATs and user levels this resource added included.
  // The PATs go first, whether or not the account is owned, because the resource minted them.
  if (!observeOnly && wantsDeletion(resource)) {
    const blocked = await revokeTokens(deps, resource, observed, events);
    if (blocked) return { outcome: blocked, observed, events };
    await withdrawUserLevels(deps, resource);
  }
  if (observeOnly || !wantsDeletion(resource) || !owned || !accountId) {
    return release(
      'OrphanedAccount',
      'left the ISC account in place (deletionPolicy Orphan, managementPolicy ObserveOnly, or ' +
        'the account was never owned)',
    );
  }

  if (deps.batch) return finalizeInBatch(deps, deps.batch, resource, accountId, release);

  const { source } = await deps.tenant.ensure();
  const account = await deps.api.findAccount(source.id, accountId);
  if (!account && createInFlight && !resource.status?.accountOwned) {
    return {
      outcome: {
        kind: 'waiting',
        reason: 'DeletingAccount',
        message:
          `the create sent at ${requestedAt} may still take effect; waiting for account ` +
          `${accountId} to delete it`,
      },
      observed,
      events,
    };
  }
  if (!account) return release('DeletedAccount', `account ${accountId} is gone from ISC`);

  // Record that the awaited create arrived, so that the account's absence after the delete
  // reads as "deleted", not as "create still pending", also after a restart.
  if (!resource.status?.accountOwned) {
    const marked = await deps.resources.patchStatus(resource, {
      accountOwned: true,
      accountCreateRequestedAt: null,
    });
    resource.metadata.resourceVersion = marked.metadata.resourceVersion;
    resource.status = { ...resource.status, accountOwned: true, accountCreateRequestedAt: null };
  }

  const uid = resource.metadata.uid ?? '';
  const sentAt = deps.pendingDeletes.get(uid);
  const now = deps.now().getTime();
  if (sentAt === undefined || now - sentAt > deps.accountCreateTimeoutMs) {
    await deps.api.deleteAccount(account.id);
    deps.pendingDeletes.set(uid, now);
    events.push({
      type: 'Normal',
      reason: 'DeletingAccount',
      message: `asked ISC to delete account ${account.id} (${accountId})`,
    });
  }
  return {
    outcome: {
      kind: 'waiting',
      reason: 'DeletingAccount',
      message: `waiting for ISC to delete account ${account.id} (${accountId})`,
    },
    observed,
    events,
  };
}

/**
 * csv mode: the next upload leaves the row of a deleted resource out, which removes the account.
 * The finalizer goes only once no upload that still carries the row runs and ISC no longer
 * lists the account, so an upload rendered before the deletion cannot bring it back unowned.
 */
async function finalizeInBatch(
  deps: ReconcileDeps,
  batch: AccountBatch,
  resource: ServiceAccount,
  accountId: string,
  release: (reason: string, message: string) => Promise<ReconcileResult>,
): Promise<ReconcileResult> {
  const observed: ReconcileResult['observed'] = { accountName: accountNameOf(resource) };
  const waiting = (message: string): ReconcileResult => ({
    outcome: { kind: 'waiting', reason: 'DeletingAccount', message },
    observed,
    events: [],
  });
  const { source } = await deps.tenant.ensure();
  const lookup =
    deps.lookupAccount ?? ((id: string, native: string) => deps.api.findAccount(id, native));
  const account = await lookup(source.id, accountId);
  if (!account) return release('DeletedAccount', `account ${accountId} is gone from ISC`);
  batch.submit(resource, true);
  return waiting(`the next account file upload leaves account ${accountId} out, which removes it`);
}

/**
 * csv mode: records the create request in status, as api mode does before its create call, so
 * the account counts as owned from then on, and hands the row to the tenant's next upload.
 */
async function createInBatch(
  deps: ReconcileDeps,
  batch: AccountBatch,
  resource: ServiceAccount,
  events: EventNote[],
): Promise<Outcome> {
  const accountId = resource.spec.accountId;
  if (!resource.status?.accountCreateRequestedAt && !resource.status?.accountOwned) {
    const requestedAt = deps.now().toISOString();
    const marked = await deps.resources.patchStatus(resource, {
      accountCreateRequestedAt: requestedAt,
    });
    resource.metadata.resourceVersion = marked.metadata.resourceVersion;
    resource.status = { ...resource.status, accountCreateRequestedAt: requestedAt };
    events.push({
      type: 'Normal',
      reason: 'CreatingAccount',
      message: `account ${accountId} goes out with the next account file upload`,
    });
  }
  if (batch.submit(resource, true) === 'scheduled') {
    return {
      kind: 'waiting',
      reason: 'WaitingForUpload',
      message: `account ${accountId} goes out with the next account file upload`,
    };
  }
  return {
    kind: 'waiting',
    reason: 'WaitingForAccount',
    message: `the upload with account ${accountId} landed; waiting for ISC to list the account`,
  };
}

/**
 * Sends a create unless one is already in flight. The request time is written to status first,
 * so that after a crash the next reconcile waits for the accepted create instead of sending a
 * second one.
 */
async function createAccount(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  sourceId: string,
  attributes: Record<string, string>,
): Promise<Exclude<Outcome, { kind: 'ready' | 'resource-updated' | 'deferred' | 'stalled' }>> {
  const requestedAt = resource.status?.accountCreateRequestedAt;
  const now = deps.now();
  if (requestedAt && now.getTime() - Date.parse(requestedAt) < deps.accountCreateTimeoutMs) {
    return {
      kind: 'waiting',
      reason: 'WaitingForAccount',
      message:
        `the account create sent at ${requestedAt} may still take effect; waiting for the ` +
        `account before sending it again (after ${Math.round(deps.accountCreateTimeoutMs / 1000)} s)`,
    };
  }

  const marked = await deps.resources.patchStatus(resource, {
    accountCreateRequestedAt: now.toISOString(),
  });
  resource.metadata.resourceVersion = marked.metadata.resourceVersion;
  resource.status = { ...resource.status, accountCreateRequestedAt: now.toISOString() };
  try {
    await deps.api.createAccount(sourceId, attributes);
  } catch (error) {
    // Only a response that shows ISC did not act (a 4xx, or a refused connection that never
    // carried the request) clears the marker. After a timeout or 5xx the create may still
    // happen, so the marker stays and the next reconcile waits for it.
    const notSent = error instanceof IscNetworkError && error.code === 'ECONNREFUSED';
    if (isIscError(error) && (error.kind !== 'transient' || notSent)) {
      deps.tenant.invalidate();
      const cleared = await deps.resources.patchStatus(resource, {
        accountCreateRequestedAt: null,
      });
      resource.metadata.resourceVersion = cleared.metadata.resourceVersion;
      resource.status = { ...resource.status, accountCreateRequestedAt: null };
    }
    throw error;
  }
  return {
    kind: 'waiting',
    reason: 'CreatingAccount',
    message: `asked ISC to create account ${attributes.id}; waiting for it to appear`,
  };
}

/**
 * Compares every attribute of the account schema, so that an attribute removed from the spec,
 * or set by hand in ISC, counts as a difference. Attributes outside the schema are ISC's own.
 */
function attributesMatch(
  account: Account,
  desired: Record<string, string>,
  schemaNames: ReadonlySet<string>,
): boolean {
  const current = account.attributes ?? {};
  const names = new Set([...schemaNames, ...Object.keys(desired)]);
  return [...names].every((name) => (current[name] ?? '') === (desired[name] ?? ''));
}

/**
 * Returns the oldest other resource that claims the same account id or name, if any. ObserveOnly
 * resources count too, because two resources would then describe one account.
 */
function findRival(
  resource: ServiceAccount,
  peers: readonly ServiceAccount[],
): ServiceAccount | undefined {
  // The informer hands out Date objects, a raw read gives strings: compare instants.
  const created = (r: ServiceAccount) => new Date(r.metadata.creationTimestamp ?? 0).getTime();
  return peers
    .filter((peer) => !peer.metadata.deletionTimestamp && claimsSameAccount(resource, peer))
    .filter((peer) => {
      const order = created(peer) - created(resource);
      // The older claim wins; equal timestamps fall back to the key so that exactly one wins.
      if (order !== 0) return order < 0;
      return (
        `${peer.metadata.namespace}/${peer.metadata.name}` <
        `${resource.metadata.namespace}/${resource.metadata.name}`
      );
    })
    .sort((a, b) => created(a) - created(b))[0];
}
