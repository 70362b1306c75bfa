// Access of identities to the tenant: personal access tokens (PATs), user levels (auth users) and
// invitations. Rules follow the v2025 spec: a PAT belongs to the calling identity, a user has at
// most 10 PATs with unique names, and an auth user's PATCH may change `capabilities` only.
// Invitation links expire after 7 days, as SailPoint's invite endpoint documents.

import { randomBytes } from 'node:crypto';
import { badRequest, forbidden, IscHttpError, illegalUpdate, notFound } from './errors.ts';
import { newId, nowIso } from './ids.ts';
import { applyJsonPatch, type PatchOperation, touchedTopLevelFields } from './json-patch.ts';
import type { TenantState } from './state.ts';
import type { PersonalAccessTokenRecord, TaskStatusDto } from './state-types.ts';

export const maxTokensPerUser = 10;
export const defaultAccessTokenValiditySeconds = 43200;
/** The scope that grants every right of the owner's user level; a PAT without scopes has it. */
export const allScopes = 'sp:scopes:all';
export const invitationValidityMs = 7 * 24 * 60 * 60 * 1000;
const patchablePatFields = new Set([
  'name',
  'scope',
  'expirationDate',
  'userAwareTokenNeverExpires',
]);

export interface CreatePatRequest {
  name: string;
  scope?: string[] | null;
  accessTokenValiditySeconds?: number | null;
  expirationDate?: string | null;
  userAwareTokenNeverExpires?: boolean | null;
}

/** Checks the v2025 expiry rule: a future expirationDate, or none and userAwareTokenNeverExpires. */
function checkExpiry(
  token: Pick<PersonalAccessTokenRecord, 'expirationDate' | 'userAwareTokenNeverExpires'>,
  now: number,
) {
  if (token.expirationDate === null) {
    if (!token.userAwareTokenNeverExpires) {
      throw badRequest(
        'A token without expirationDate never expires, so userAwareTokenNeverExpires must be true.',
      );
    }
    return;
  }
  if (Date.parse(token.expirationDate) <= now) {
    throw badRequest(`The expirationDate "${token.expirationDate}" must be in the future.`);
  }
}

function checkUniqueName(state: TenantState, ownerId: string, name: string, exceptId?: string) {
  for (const token of state.personalAccessTokens.values()) {
    if (token.ownerId === ownerId && token.id !== exceptId && token.name === name) {
      throw badRequest(`The owner already has a personal access token named "${name}".`);
    }
  }
}

/** Stores a PAT without request checks, for credentials seeded at start-up. */
export function seedPersonalAccessToken(
  state: TenantState,
  token: Omit<PersonalAccessTokenRecord, 'created' | 'lastUsed'>,
): PersonalAccessTokenRecord {
  const record = { ...token, created: nowIso(), lastUsed: null };
  state.personalAccessTokens.set(record.id, record);
  state.issuedClientSecrets.add(record.secret);
  return record;
}

/** Creates a PAT owned by the calling identity and returns it with its secret. */
export function createPersonalAccessToken(
  state: TenantState,
  ownerId: string,
  request: CreatePatRequest,
): PersonalAccessTokenRecord {
  state.getIdentity(ownerId);
  const owned = [...state.personalAccessTokens.values()].filter(
    (token) => token.ownerId === ownerId,
  );
  if (owned.length >= maxTokensPerUser) {
    throw badRequest(`An identity can own at most ${maxTokensPerUser} personal access tokens.`);
  }
  checkUniqueName(state, ownerId, request.name);
  const expiry = {
    expirationDate: request.expirationDate ?? null,
    userAwareTokenNeverExpires: request.userAwareTokenNeverExpires ?? false,
  };
  checkExpiry(expiry, state.clock.now());
  return seedPersonalAccessToken(state, {
    id: newId(),
    secret: randomBytes(32).toString('hex'),
    name: request.name,
    scope: request.scope ?? null,
    ownerId,
    accessTokenValiditySeconds:
      request.accessTokenValiditySeconds ?? defaultAccessTokenValiditySeconds,
    ...expiry,
  });
}

/**
 * Returns the scopes a new access token of this PAT carries at tenant time `now`: the previous
 * scopes while a scope change is still delayed, else the stored ones.
 */
export function tokenScope(token: PersonalAccessTokenRecord, now: number): string[] {
  const delayed = token.scopeEffectiveAt !== undefined && now < token.scopeEffectiveAt;
  const scope = delayed ? token.previousScope : token.scope;
  return scope ?? [allScopes];
}

export function personalAccessTokenDto(state: TenantState, token: PersonalAccessTokenRecord) {
  const owner = state.identities.get(token.ownerId)?.identity;
  return {
    id: token.id,
    name: token.name,
    scope: token.scope ?? [allScopes],
    owner: { type: 'IDENTITY', id: token.ownerId, name: owner?.name ?? token.ownerId },
    created: token.created,
    lastUsed: token.lastUsed,
    managed: false,
    accessTokenValiditySeconds: token.accessTokenValiditySeconds,
    expirationDate: token.expirationDate,
    userAwareTokenNeverExpires: token.userAwareTokenNeverExpires,
  };
}

function ownedToken(state: TenantState, id: string, callerId: string): PersonalAccessTokenRecord {
  const token = state.personalAccessTokens.get(id);
  if (!token) throw notFound('Personal access token', id);
  // NOTE: an identity with the all-personal-access-tokens rights may manage other owners' tokens
  // in ISC. The emulator has no rights model, so it allows the owner only.
  if (token.ownerId !== callerId) {
    throw forbidden(`Personal access token "${id}" belongs to another identity.`);
  }
  return token;
}

/** Applies a JSON Patch to one of the caller's PATs; only the spec's patchable fields change. */
export function patchPersonalAccessToken(
  state: TenantState,
  id: string,
  callerId: string,
  operations: PatchOperation[],
): PersonalAccessTokenRecord {
  const token = ownedToken(state, id, callerId);
  for (const field of touchedTopLevelFields(operations)) {
    if (!patchablePatFields.has(field)) {
      throw illegalUpdate(`The field "${field}" of a personal access token cannot be changed.`);
    }
  }
  const patched = applyJsonPatch(personalAccessTokenDto(state, token), operations);
  const expiry = {
    expirationDate: patched.expirationDate ?? null,
    userAwareTokenNeverExpires: patched.userAwareTokenNeverExpires ?? false,
  };
  const now = state.clock.now();
  checkExpiry(expiry, now);

  if (typeof patched.name !== 'string' || patched.name === '') {
    throw badRequest('The field "name" must be a non-empty string.');
  }
  const scope: unknown = patched.scope ?? null;
  if (
    scope !== null &&
    !(Array.isArray(scope) && scope.every((entry) => typeof entry === 'string' && entry !== ''))
  ) {
    throw badRequest('The field "scope" must be null or an array of non-empty strings.');
  }
  checkUniqueName(state, token.ownerId, patched.name, token.id);

  if (JSON.stringify(scope) !== JSON.stringify(token.scope) && state.patScopeDelayMs > 0) {
    // Tokens issued before the change keep their scopes, and new ones get the old scopes until
    // the delay has passed.
    const current = tokenScope(token, now);
    token.previousScope = current.length === 1 && current[0] === allScopes ? null : current;
    token.scopeEffectiveAt = now + state.patScopeDelayMs;
  }
  token.name = patched.name;
  token.scope = scope as string[] | null;
  Object.assign(token, expiry);
  return token;
}

export function deletePersonalAccessToken(state: TenantState, id: string, callerId: string): void {
  ownedToken(state, id, callerId);
  state.personalAccessTokens.delete(id);
}

/** Renders an identity as the AuthUser schema describes it (GET /auth-users/{id}). */
export function authUserDto(state: TenantState, id: string) {
  const record = state.identities.get(id);
  if (!record) throw notFound('Auth user', id);
  const identity = record.identity;
  const attribute = (name: string) => {
    const value = identity.attributes[name];
    return typeof value === 'string' ? value : null;
  };
  return {
    tenant: 'emulator',
    id: identity.id,
    uid: identity.alias,
    profile: record.identityProfileId ?? '',
    identificationNumber: null,
    email: identity.emailAddress,
    phone: null,
    workPhone: null,
    personalEmail: null,
    firstname: attribute('firstname'),
    lastname: attribute('lastname'),
    displayName: attribute('displayName') ?? identity.name,
    alias: identity.alias,
    lastPasswordChangeDate: null,
    lastLoginTimestamp: 0,
    currentLoginTimestamp: 0,
    lastUnlockTimestamp: null,
    capabilities: [...record.capabilities],
  };
}

/** Applies a JSON Patch to an auth user; the API allows changes to `capabilities` only. */
export function patchAuthUser(state: TenantState, id: string, operations: PatchOperation[]) {
  const current = authUserDto(state, id);
  for (const field of touchedTopLevelFields(operations)) {
    if (field !== 'capabilities') {
      throw illegalUpdate(`Only "capabilities" of an auth user can be changed, not "${field}".`);
    }
  }
  const patched = applyJsonPatch(current, operations);
  const record = state.identities.get(id)!;
  record.capabilities = Array.isArray(patched.capabilities) ? [...patched.capabilities] : [];
  return authUserDto(state, id);
}

/**
 * Submits invitations: the listed identities, or with `uninvited` and no ids every unregistered
 * identity (at most 1000). Only UNREGISTERED identities are mailed, which the emulator records as
 * `invitedAt` (tenant clock) in the admin state. A new invitation replaces an expired one.
 */
export function inviteIdentities(
  state: TenantState,
  request: { ids?: string[] | null; uninvited?: boolean },
  launcher: string,
): TaskStatusDto {
  const ids = request.ids ?? [];
  for (const id of ids) state.getIdentity(id);
  const targets =
    ids.length > 0
      ? ids
      : request.uninvited
        ? [...state.identities.values()]
            .filter((record) => record.identity.identityStatus === 'UNREGISTERED')
            .slice(0, 1000)
            .map((record) => record.identity.id)
        : [];
  if (targets.length === 0) {
    throw badRequest('Send "ids" or set "uninvited" to true to select identities to invite.');
  }
  return state.startTask('Identity Invite', `Invite ${targets.length} identities`, launcher, () => {
    const invitedAt = state.clock.nowIso();
    for (const id of targets) {
      const record = state.identities.get(id);
      if (record?.identity.identityStatus !== 'UNREGISTERED') continue;
      record.invitedAt = invitedAt;
      record.invitationsSent = (record.invitationsSent ?? 0) + 1;
    }
    return undefined;
  });
}

/**
 * Marks an identity as registered, as if its user had followed the invitation link. The emulator
 * offers this on its admin API because no mail or login page exists. Raises a 409 IscHttpError
 * when the identity has no invitation, or only one older than 7 days on the tenant clock, and the
 * identity then stays UNREGISTERED.
 */
export function completeRegistration(state: TenantState, id: string): void {
  const record = state.identities.get(id);
  if (!record) throw notFound('Identity', id);
  if (record.identity.identityStatus === 'UNREGISTERED') {
    if (record.invitedAt === null) {
      throw registrationConflict(`Identity "${id}" has no invitation. Invite it first.`);
    }
    const expiresAt = Date.parse(record.invitedAt) + invitationValidityMs;
    if (state.clock.now() >= expiresAt) {
      throw registrationConflict(
        `The invitation of identity "${id}" expired at ${new Date(expiresAt).toISOString()}. ` +
          'Invite it again.',
      );
    }
  }
  // NOTE: the status values after registration are not documented. ACTIVE is assumed, as for the
  // seeded admin identity.
  record.identity.identityStatus = 'ACTIVE';
  record.identity.attributes.cloudStatus = 'ACTIVE';
  record.identity.modified = nowIso();
}

function registrationConflict(text: string): IscHttpError {
  return new IscHttpError(409, { error: text }, text);
}
