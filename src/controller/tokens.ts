// Personal access tokens (PATs) of a service account: minting into Secrets, scope changes,
// rotation before expiry, revocation, and the opt-in rotation of the bootstrap credential.
// ISC creates a PAT for the identity whose token makes the call, so every call here runs as
// the service account itself, with the credential from its bootstrap Secret.

import type { IscApi } from '../isc/api.ts';
import { IscApiError } from '../isc/errors.ts';
import { managedByLabel, managedByValue, SecretConflictError } from '../kube/client.ts';
import type { EventNote } from '../kube/events.ts';
import {
  type BootstrapCredentialStatus,
  type RotationSettings,
  type ServiceAccount,
  type TokenSpec,
  type TokenStatus,
  tokenSecretLabel,
} from '../kube/types.ts';
import type { Outcome, ReconcileDeps, ReconcileResult } from './reconcile.ts';

/** Default time before a PAT expires at which a new one replaces it. */
export const tokenRotationLeadMs = 7 * 86_400_000;
/** Default time a replaced PAT keeps working, so that clients can pick up the new Secret. */
export const tokenRetireGraceMs = 60 * 60_000;
/**
 * How long after a scope change a new access token may still carry the old scopes before the
 * resource reports it. ISC documents a delay of up to 20 minutes.
 */
export const tokenScopePropagationTimeoutMs = 30 * 60_000;

const allScopes = 'sp:scopes:all';

/**
 * Returns how long before expiry a PAT valid for `validForMs` is rotated: the configured lead,
 * at most half the validity, so that a short-lived PAT is not replaced again at once.
 */
export function rotationLeadMs(settings: RotationSettings, validForMs: number): number {
  const configured =
    settings.rotateBeforeExpiryHours === undefined
      ? tokenRotationLeadMs
      : settings.rotateBeforeExpiryHours * 3_600_000;
  return Math.min(configured, validForMs / 2);
}

function retireGraceMs(settings: RotationSettings): number {
  return settings.rotationGracePeriodMinutes === undefined
    ? tokenRetireGraceMs
    : settings.rotationGracePeriodMinutes * 60_000;
}

/** Returns the scopes a PAT of this spec gets, sorted, so that two lists compare as strings. */
export function wantedScopes(spec: Pick<TokenSpec, 'scopes'>): string[] {
  return [...new Set(spec.scopes?.length ? spec.scopes : [allScopes])].sort();
}

function sameScopes(a: readonly string[] | null | undefined, b: readonly string[]): boolean {
  const normalized = [...new Set(a?.length ? a : [allScopes])].sort();
  return normalized.join(' ') === b.join(' ');
}

/**
 * Mints the PATs in spec.tokens with the service account's own credential, writes each into
 * its Secret, applies scope changes to the existing PAT, rotates PATs that expire within their
 * lead time, and revokes PATs that left the spec. Each create is recorded in status first. A
 * restart that finds such a record deletes any PAT of the pending name, because its secret was
 * lost, and mints again. A rotated PAT is deleted after its grace period, so the Secret
 * contains a valid credential at every moment. A token whose Secret the operator may not
 * write (someone else's Secret, the bootstrap Secret, or one an earlier token names) gets no
 * PAT, and the resource stalls with reason SecretConflict once the other tokens are done.
 * Returns an outcome only when tokens keep the resource from Ready.
 */
export async function ensureTokens(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  observed: ReconcileResult['observed'],
  events: EventNote[],
): Promise<Outcome | undefined> {
  const wanted = resource.spec.tokens ?? [];
  let tokens: TokenStatus[] = [...(resource.status?.tokens ?? [])];
  const now = deps.now();
  const entryOf = (name: string) => tokens.find((entry) => entry.name === name);
  const wantedNames = new Set(wanted.map((token) => token.name));
  const stale = tokens.filter((token) => !wantedNames.has(token.name));
  const missing = wanted.filter((spec) => !entryOf(spec.name)?.id);
  const due = wanted.filter((spec) => {
    const entry = entryOf(spec.name);
    if (!entry?.id || !entry.expiresAt || entry.previousId || !entry.createdAt) return false;
    const validForMs = Date.parse(entry.expiresAt) - Date.parse(entry.createdAt);
    return now.getTime() >= Date.parse(entry.expiresAt) - rotationLeadMs(spec, validForMs);
  });
  const rescoped = wanted.filter((spec) => {
    const entry = entryOf(spec.name);
    if (!entry?.id || due.includes(spec)) return false;
    return entry.scopes === undefined || !sameScopes(entry.scopes, wantedScopes(spec));
  });
  const propagating = wanted.filter(
    (spec) => entryOf(spec.name)?.scopesChangedAt && !due.includes(spec),
  );
  const retiring = tokens.filter(
    (entry) => entry.previousId && entry.retireAt && now.getTime() >= Date.parse(entry.retireAt),
  );
  const bootstrapRotation = resource.spec.bootstrapCredentialsSecretRef?.rotation;
  const work = stale.length + missing.length + due.length + rescoped.length + retiring.length;
  if (work + propagating.length === 0 && !bootstrapRotation) return undefined;

  let api = await deps.serviceAccountApi(resource);
  if (typeof api === 'string') {
    return { kind: 'stalled', reason: 'BootstrapCredentialsMissing', message: api };
  }
  const save = async () => {
    const marked = await deps.resources.patchStatus(resource, { tokens });
    resource.metadata.resourceVersion = marked.metadata.resourceVersion;
    resource.status = { ...resource.status, tokens };
    observed.tokens = tokens;
  };
  const replace = (entry: TokenStatus) => {
    tokens = [...tokens.filter((other) => other.name !== entry.name), entry];
  };

  if (bootstrapRotation) {
    const rotated = await ensureBootstrapRotation(deps, resource, api, observed, events);
    if (rotated) api = rotated;
  }
  if (work + propagating.length === 0) return undefined;

  for (const token of stale) {
    if (token.id) await api.deletePersonalAccessToken(token.id);
    if (token.previousId) await api.deletePersonalAccessToken(token.previousId);
    // Another token of the spec may have taken the Secret over, and a Secret the operator did
    // not write is never deleted.
    const reused = wanted.some((spec) => spec.secretName === token.secretName);
    const deleted =
      token.secretName !== undefined &&
      !reused &&
      (await deps.resources.deleteOwnedSecret(resource, token.secretName));
    tokens = tokens.filter((entry) => entry.name !== token.name);
    await save();
    events.push({
      type: 'Normal',
      reason: 'RevokedToken',
      message: deleted
        ? `revoked personal access token "${token.name}" and deleted its Secret`
        : `revoked personal access token "${token.name}"`,
    });
  }

  for (const entry of retiring) {
    await api.deletePersonalAccessToken(entry.previousId!);
    const { previousId: _previous, retireAt: _retire, ...kept } = entry;
    replace(kept);
    await save();
  }

  for (const spec of rescoped) {
    await applyScopes(deps, api, entryOf(spec.name)!, spec, replace, save, events);
  }

  const conflicts: string[] = [];
  for (const spec of [...missing, ...due]) {
    const current = entryOf(spec.name);
    const conflict =
      secretNameConflict(resource, wanted, spec) ??
      (await mintToken(deps, resource, api, spec, current, replace, save, events));
    if (conflict === undefined) continue;
    conflicts.push(conflict);
    const pending = entryOf(spec.name);
    if (pending?.requestedAt) {
      await deletePendingPats(api, spec, pending);
      const { requestedAt: _requested, ...kept } = pending;
      tokens = tokens.filter((entry) => entry.name !== spec.name);
      if (kept.id) tokens.push(kept);
      await save();
    }
  }

  const scopeOutcome = await checkScopePropagation(
    deps,
    resource,
    wanted,
    entryOf,
    replace,
    save,
    events,
  );
  if (conflicts.length === 0) return scopeOutcome;
  return { kind: 'stalled', reason: 'SecretConflict', message: conflicts.join('; ') };
}

/**
 * Returns why `spec` may not write its Secret, judged from the spec alone: it names the
 * bootstrap Secret, or an earlier token names the same Secret. The CRD rejects both at
 * admission; this covers resources stored before those rules existed.
 */
function secretNameConflict(
  resource: ServiceAccount,
  wanted: readonly TokenSpec[],
  spec: TokenSpec,
): string | undefined {
  const bootstrap = resource.spec.bootstrapCredentialsSecretRef?.name;
  if (spec.secretName === bootstrap) {
    return (
      `token "${spec.name}" names the bootstrap Secret ${bootstrap} as its secretName, so it ` +
      'was not minted; choose another secretName'
    );
  }
  const earlier = wanted.find((other) => other.secretName === spec.secretName);
  if (earlier && earlier.name !== spec.name) {
    return (
      `tokens "${earlier.name}" and "${spec.name}" both name Secret ${spec.secretName}, so ` +
      `"${spec.name}" was not minted; give each token its own secretName`
    );
  }
  return undefined;
}

function foreignSecretMessage(resource: ServiceAccount, spec: TokenSpec): string {
  return (
    `Secret ${resource.metadata.namespace}/${spec.secretName} exists and was not written by the ` +
    `operator for this resource, so token "${spec.name}" was not minted; choose another ` +
    'secretName, or delete that Secret if nothing needs it'
  );
}

/**
 * Revokes, before a resource with deletionPolicy Delete goes, the PATs it minted: each token's
 * current PAT, a PAT in its grace period, any PAT of a create in flight, and a replaced
 * bootstrap PAT in its grace period. The current bootstrap PAT stays, because it is the
 * person's credential and the operator needs it to revoke the others. Calls run as the service
 * account. When its credential is missing or refused, the Tenant's credential tries the same
 * deletes, because ISC allows them with the right idn:all-personal-access-tokens:manage. A PAT
 * that is already gone counts as revoked, so a rerun after a crash goes on where it stopped.
 * Returns an outcome when neither credential may revoke them.
 */
export async function revokeTokens(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  observed: ReconcileResult['observed'],
  events: EventNote[],
): Promise<Outcome | undefined> {
  const tokens = resource.status?.tokens ?? [];
  const retiringBootstrap = resource.status?.bootstrapCredentials?.previousId;
  if (tokens.length === 0 && !retiringBootstrap) return undefined;
  const ids = [...tokens.flatMap((entry) => [entry.id, entry.previousId]), retiringBootstrap];
  const revoked = ids.filter((id): id is string => id !== undefined);
  const pending = tokens
    .filter((entry) => entry.requestedAt)
    .map((entry) => pendingIscName({ name: entry.name }, entry));

  const own = await deps.serviceAccountApi(resource);
  let problem = typeof own === 'string' ? own : '';
  if (typeof own !== 'string') {
    try {
      await deletePats(own, revoked, pending, () => own.listOwnPersonalAccessTokens());
    } catch (error) {
      if (!isCredentialRejection(error)) throw error;
      problem = error.message;
    }
  }
  if (problem !== '') {
    // NOTE: this path follows the rights ISC documents for deleting another identity's PAT.
    // It is untested against ISC, and the emulator refuses it.
    const identityId = resource.status?.identityId;
    try {
      await deletePats(deps.api, revoked, pending, async () =>
        identityId ? deps.api.listPersonalAccessTokensOf(identityId) : [],
      );
    } catch (error) {
      if (!isCredentialRejection(error)) throw error;
      const names = tokens.map((entry) => `"${entry.name}"`).join(', ') || 'the bootstrap PAT';
      return {
        kind: 'stalled',
        reason: 'TokenRevocationFailed',
        message:
          `cannot revoke the personal access tokens ${names} before deleting the account: ` +
          `${problem}; the Tenant's credential may not delete them either (${error.message}). ` +
          'Restore the bootstrap Secret, or set deletionPolicy Orphan to leave the tokens and ' +
          'the account in ISC',
      };
    }
  }

  const cleared = { tokens: [], bootstrapCredentials: null };
  const marked = await deps.resources.patchStatus(resource, cleared);
  resource.metadata.resourceVersion = marked.metadata.resourceVersion;
  resource.status = { ...resource.status, tokens: [] };
  observed.tokens = [];
  events.push({
    type: 'Normal',
    reason: 'RevokedTokens',
    message: 'revoked the personal access tokens this resource minted',
  });
  return undefined;
}

/** True when ISC rejected the credential for this call, with 401 or 403. */
function isCredentialRejection(error: unknown): error is IscApiError {
  return (
    error instanceof IscApiError && (error.kind === 'unauthorized' || error.kind === 'forbidden')
  );
}

/**
 * Deletes PATs by id, then the PATs named in `pending` that `list` returns. A PAT already gone
 * is skipped.
 */
async function deletePats(
  api: IscApi,
  ids: readonly string[],
  pending: readonly string[],
  list: () => Promise<Array<{ id: string; name: string }>>,
): Promise<void> {
  for (const id of ids) await api.deletePersonalAccessToken(id);
  if (pending.length === 0) return;
  for (const pat of await list()) {
    if (pending.includes(pat.name) && !ids.includes(pat.id)) {
      await api.deletePersonalAccessToken(pat.id);
    }
  }
}

/**
 * Deletes the PATs a recorded create request of `entry` may have left in ISC. Their secret
 * was never written to a Secret, so no client can use them.
 */
async function deletePendingPats(api: IscApi, spec: TokenSpec, entry: TokenStatus): Promise<void> {
  const iscName = pendingIscName(spec, entry);
  for (const pat of await api.listOwnPersonalAccessTokens()) {
    if (pat.name === iscName && pat.id !== entry.id) await api.deletePersonalAccessToken(pat.id);
  }
}

/** Returns the ISC name of the next PAT of a token: `<name>`, then `<name>-rN` per rotation. */
function pendingIscName(spec: Pick<TokenSpec, 'name'>, entry: TokenStatus | undefined): string {
  const rotations = (entry?.rotations ?? 0) + (entry?.id === undefined ? 0 : 1);
  return rotations === 0 ? spec.name : `${spec.name}-r${rotations}`;
}

/**
 * Brings the scopes of an existing PAT in line with the spec by changing the PAT itself, so the
 * credential in the Secret stays the same. A status entry from before scopes were recorded is
 * compared with the PAT as ISC lists it.
 */
async function applyScopes(
  deps: ReconcileDeps,
  api: IscApi,
  entry: TokenStatus,
  spec: TokenSpec,
  replace: (entry: TokenStatus) => void,
  save: () => Promise<void>,
  events: EventNote[],
): Promise<void> {
  const scopes = wantedScopes(spec);
  if (entry.scopes === undefined) {
    const listed = (await api.listOwnPersonalAccessTokens()).find((pat) => pat.id === entry.id);
    if (listed && sameScopes(listed.scope, scopes)) {
      replace({ ...entry, scopes });
      await save();
      return;
    }
  }
  await api.setPersonalAccessTokenScopes(entry.id!, scopes);
  // A cached client of the operator with an access token of this PAT must fetch a new one.
  deps.forgetCredential(entry.id!);
  replace({ ...entry, scopes, scopesChangedAt: deps.now().toISOString() });
  await save();
  events.push({
    type: 'Normal',
    reason: 'UpdatedTokenScopes',
    message: `set the scopes of personal access token "${spec.name}" to ${scopes.join(', ')}`,
  });
}

/**
 * Waits until a new access token of each PAT whose scopes changed carries the new scopes, by
 * requesting one with the credential in its Secret. While ISC still issues the old scopes the
 * resource waits and polls with growing delays; past `tokenScopePropagationTimeoutMs` it stalls.
 */
async function checkScopePropagation(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  wanted: readonly TokenSpec[],
  entryOf: (name: string) => TokenStatus | undefined,
  replace: (entry: TokenStatus) => void,
  save: () => Promise<void>,
  events: EventNote[],
): Promise<Outcome | undefined> {
  const pending: string[] = [];
  let oldest = Number.POSITIVE_INFINITY;
  for (const spec of wanted) {
    const entry = entryOf(spec.name);
    if (!entry?.scopesChangedAt || !entry.secretName) continue;
    const granted = await deps.grantedScopes(resource.metadata.namespace, entry.secretName);
    if (granted !== undefined && sameScopes(granted, wantedScopes(spec))) {
      const { scopesChangedAt: _changed, ...kept } = entry;
      replace(kept);
      await save();
      events.push({
        type: 'Normal',
        reason: 'TokenScopesApplied',
        message: `new access tokens of personal access token "${spec.name}" carry its new scopes`,
      });
      continue;
    }
    pending.push(spec.name);
    oldest = Math.min(oldest, Date.parse(entry.scopesChangedAt));
  }
  if (pending.length === 0) return undefined;

  const names = pending.map((name) => `"${name}"`).join(', ');
  if (deps.now().getTime() - oldest > tokenScopePropagationTimeoutMs) {
    return {
      kind: 'stalled',
      reason: 'TokenScopesNotApplied',
      message:
        `ISC still issues access tokens with the old scopes for ${names}, ` +
        `${Math.round(tokenScopePropagationTimeoutMs / 60_000)} minutes after the change; ` +
        'check the PAT in ISC, or remove and re-add the token to mint a new PAT',
    };
  }
  return {
    kind: 'waiting',
    reason: 'WaitingForTokenScopes',
    message: `waiting for ISC to apply the new scopes of ${names} to new access tokens`,
  };
}

/**
 * Mints a PAT for `spec` and writes it into the token's Secret, replacing the current PAT when
 * rotating. The Secret is checked before the PAT is created, so a Secret the operator may not
 * write costs no PAT. Returns a message when that Secret belongs to someone else, else
 * undefined.
 */
async function mintToken(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  api: IscApi,
  spec: TokenSpec,
  current: TokenStatus | undefined,
  replace: (entry: TokenStatus) => void,
  save: () => Promise<void>,
  events: EventNote[],
): Promise<string | undefined> {
  const now = deps.now();
  const rotating = current?.id !== undefined;
  const rotations = (current?.rotations ?? 0) + (rotating ? 1 : 0);
  const iscName = pendingIscName(spec, current);
  if (current?.requestedAt) await deletePendingPats(api, spec, current);
  if ((await deps.resources.secretClaim(resource, spec.secretName)) === 'foreign') {
    return foreignSecretMessage(resource, spec);
  }
  replace({ ...(current ?? { name: spec.name }), requestedAt: now.toISOString() });
  await save();

  const expirationDate = spec.validForDays
    ? new Date(now.getTime() + spec.validForDays * 86_400_000).toISOString()
    : undefined;
  const scopes = wantedScopes(spec);
  const created = await api.createPersonalAccessToken({
    name: iscName,
    scopes: spec.scopes?.length ? scopes : undefined,
    accessTokenValiditySeconds: spec.accessTokenValiditySeconds,
    expirationDate,
  });
  // One replace of the whole Secret, so readers see either the old or the new credential.
  try {
    await deps.resources.writeOwnedSecret(
      resource,
      spec.secretName,
      {
        clientId: created.id,
        clientSecret: created.secret,
        tokenUrl: `${deps.tenantBaseUrl}/oauth/token`,
        baseUrl: deps.tenantBaseUrl,
      },
      { [managedByLabel]: managedByValue, [tokenSecretLabel]: resource.metadata.name },
    );
  } catch (error) {
    if (!(error instanceof SecretConflictError)) throw error;
    // Someone created the Secret after the check above; the new PAT's secret is lost.
    await api.deletePersonalAccessToken(created.id);
    return foreignSecretMessage(resource, spec);
  }
  replace({
    name: spec.name,
    id: created.id,
    iscName,
    rotations,
    secretName: spec.secretName,
    createdAt: now.toISOString(),
    scopes,
    ...(expirationDate ? { expiresAt: expirationDate } : {}),
    ...(rotating
      ? {
          previousId: current!.id!,
          retireAt: new Date(now.getTime() + retireGraceMs(spec)).toISOString(),
        }
      : {}),
  });
  await save();
  events.push({
    type: 'Normal',
    reason: rotating ? 'RotatedToken' : 'MintedToken',
    message: `${rotating ? 'rotated' : 'minted'} personal access token "${spec.name}" into Secret ${spec.secretName}`,
  });
  return undefined;
}

/**
 * Rotates the bootstrap credential with itself when spec.bootstrapCredentialsSecretRef.rotation
 * is set: a PAT the operator did not write (the one a person created) is replaced at once, its
 * own PATs before they expire. The intent is recorded in status before the PAT is created,
 * and the Secret is replaced only if its resourceVersion is still the one read. So a restart at
 * any point finishes or undoes the rotation, and no credential is lost or PAT left behind.
 * Returns ISC access with the new credential when it rotated, else undefined.
 */
async function ensureBootstrapRotation(
  deps: ReconcileDeps,
  resource: ServiceAccount,
  api: IscApi,
  observed: ReconcileResult['observed'],
  events: EventNote[],
): Promise<IscApi | undefined> {
  const ref = resource.spec.bootstrapCredentialsSecretRef!;
  const rotation = ref.rotation!;
  const namespace = resource.metadata.namespace;
  const now = deps.now();
  let state: BootstrapCredentialStatus = { ...(resource.status?.bootstrapCredentials ?? {}) };
  const save = async () => {
    // A merge patch keeps fields it does not name, so fields that were removed are sent as null.
    const removed = Object.fromEntries(bootstrapStatusFields.map((field) => [field, null]));
    const patch = { ...removed, ...state } as BootstrapCredentialStatus;
    const marked = await deps.resources.patchStatus(resource, { bootstrapCredentials: patch });
    resource.metadata.resourceVersion = marked.metadata.resourceVersion;
    resource.status = { ...resource.status, bootstrapCredentials: state };
    observed.bootstrapCredentials = state;
  };
  const secret = await deps.resources.readSecret(namespace, ref.name);
  const currentId = api.client.credentialId;

  if (state.rotation) {
    // A rotation was interrupted. If the Secret contains the PAT it created, only the status
    // record is missing. Otherwise the new PAT's secret is lost, so the PAT is deleted.
    const pending = state.rotation;
    const listed = await api.listOwnPersonalAccessTokens();
    const written =
      currentId !== pending.replacing &&
      listed.some((pat) => pat.id === currentId && pat.name === pending.iscName);
    if (written) {
      state = finishedRotation(state, currentId, pending, rotation, now);
      await save();
    } else {
      for (const pat of listed) {
        if (pat.name === pending.iscName && pat.id !== currentId) {
          await api.deletePersonalAccessToken(pat.id);
        }
      }
      const { rotation: _dropped, ...rest } = state;
      state = rest;
      await save();
    }
  }

  if (state.previousId && state.retireAt && now.getTime() >= Date.parse(state.retireAt)) {
    await api.deletePersonalAccessToken(state.previousId);
    const { previousId: _previous, retireAt: _retire, ...kept } = state;
    state = kept;
    await save();
    events.push({
      type: 'Normal',
      reason: 'RetiredBootstrapCredential',
      message: `deleted the replaced bootstrap personal access token of Secret ${ref.name}`,
    });
  }

  if (state.previousId || !secret) return undefined;
  const validForMs = rotation.validForDays * 86_400_000;
  const foreign = state.id !== currentId;
  const expiring =
    state.expiresAt !== undefined &&
    now.getTime() >= Date.parse(state.expiresAt) - rotationLeadMs(rotation, validForMs);
  if (!foreign && !expiring) return undefined;

  const listed = await api.listOwnPersonalAccessTokens();
  const scope = listed.find((pat) => pat.id === currentId)?.scope;
  const rotations = (state.rotations ?? 0) + 1;
  const iscName = `bootstrap-r${rotations}`;
  for (const pat of listed) {
    // A PAT of this name left from an earlier, undone rotation would block the create.
    if (pat.name === iscName && pat.id !== currentId) await api.deletePersonalAccessToken(pat.id);
  }
  const pending = {
    requestedAt: now.toISOString(),
    iscName,
    replacing: currentId,
    expiresAt: new Date(now.getTime() + validForMs).toISOString(),
  };
  state = { ...state, rotation: pending };
  await save();

  const created = await api.createPersonalAccessToken({
    name: iscName,
    scopes: scope?.length ? scope : undefined,
    accessTokenValiditySeconds: undefined,
    expirationDate: pending.expiresAt,
  });
  // A conflict here means someone changed the Secret since it was read. The next reconcile
  // then finds the recorded rotation, deletes the new PAT and starts over.
  await deps.resources.updateSecretData(secret, {
    clientId: created.id,
    clientSecret: created.secret,
  });
  deps.forgetCredential(currentId);
  state = finishedRotation(state, created.id, pending, rotation, now);
  await save();
  events.push({
    type: 'Normal',
    reason: 'RotatedBootstrapCredential',
    message: `replaced the bootstrap personal access token in Secret ${ref.name}`,
  });
  const next = await deps.serviceAccountApi(resource);
  return typeof next === 'string' ? undefined : next;
}

const bootstrapStatusFields: ReadonlyArray<keyof BootstrapCredentialStatus> = [
  'id',
  'iscName',
  'rotations',
  'expiresAt',
  'previousId',
  'retireAt',
  'rotation',
];

function finishedRotation(
  state: BootstrapCredentialStatus,
  id: string,
  pending: NonNullable<BootstrapCredentialStatus['rotation']>,
  settings: RotationSettings,
  now: Date,
): BootstrapCredentialStatus {
  const { rotation: _done, ...rest } = state;
  return {
    ...rest,
    id,
    iscName: pending.iscName,
    rotations: Number(pending.iscName.replace(/^bootstrap-r/, '')) || (state.rotations ?? 0) + 1,
    expiresAt: pending.expiresAt,
    previousId: pending.replacing,
    retireAt: new Date(now.getTime() + retireGraceMs(settings)).toISOString(),
  };
}
