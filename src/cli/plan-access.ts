/**
 * The identity-access part of a plan: user levels to add or withdraw and personal access tokens
 * to mint, rotate or revoke. What the operator did before is recorded only in the cluster
 * (status.userLevelsAdded, status.tokens), so the plan works from the files, the files of the
 * base revision when given, and what ISC lists for the identity.
 */
import { rotationLeadMs } from '../controller/tokens.ts';
import type { IscApi } from '../isc/api.ts';
import { IscApiError } from '../isc/errors.ts';
import type { PersonalAccessToken } from '../isc/types.ts';
import type { ServiceAccountSpec } from '../kube/types.ts';

export interface UserLevelPlan {
  /** Requested levels the identity lacks; the operator adds them. */
  add: string[];
  /**
   * Levels the base revision requested and this one does not, which the identity has. The
   * operator withdraws one only if it added it (status.userLevelsAdded), never one a person set.
   */
  withdraw: string[];
  /** Requested levels the identity already has. */
  present: string[];
  /**
   * Levels the identity has that neither revision requests: set by a person or another tool,
   * and kept by the operator.
   */
  kept: string[];
}

export type TokenAction = 'mint' | 'rotate' | 'revoke' | 'keep' | 'unknown';

export interface TokenPlan {
  /** Token name in spec.tokens. */
  name: string;
  action: TokenAction;
  /** The newest PAT of this token in ISC (`name`, or `name-rN` after N rotations). */
  pat?: { id: string; name: string; expirationDate: string | null };
  detail: string;
}

/** What ISC returned about one identity's access; undefined fields could not be read. */
export interface IdentityAccess {
  capabilities: string[] | undefined;
  /** Undefined when the identity has no auth user or the credential may not list its PATs. */
  tokens: PersonalAccessToken[] | undefined;
  notes: string[];
}

/** Reads the identity's user levels and PATs, as far as each part is needed and allowed. */
export async function readIdentityAccess(
  api: IscApi,
  identityId: string,
  needs: { userLevels: boolean; tokens: boolean },
): Promise<IdentityAccess> {
  const access: IdentityAccess = { capabilities: undefined, tokens: undefined, notes: [] };
  if (needs.userLevels) {
    access.capabilities = await api.getAuthUserCapabilities(identityId);
    if (access.capabilities === undefined)
      access.notes.push(`identity ${identityId} has no auth user yet, so it has no user levels`);
  }
  if (needs.tokens) {
    try {
      access.tokens = await api.listPersonalAccessTokensOf(identityId);
    } catch (error) {
      if (!(error instanceof IscApiError && error.kind === 'forbidden')) throw error;
      access.notes.push(
        `listing the personal access tokens of identity ${identityId} was forbidden (it needs ` +
          'sp:all-personal-access-tokens:read); token actions are unknown',
      );
    }
  }
  return access;
}

/** Compares requested user levels with the identity's current ones. */
export function planUserLevels(
  spec: ServiceAccountSpec,
  baseSpec: ServiceAccountSpec | undefined,
  current: readonly string[] | undefined,
): UserLevelPlan | undefined {
  const wanted = spec.userLevel ?? [];
  const before = baseSpec?.userLevel ?? [];
  const has = current ?? [];
  if (wanted.length === 0 && before.length === 0) return undefined;
  return {
    add: wanted.filter((level) => !has.includes(level)),
    withdraw: before.filter((level) => !wanted.includes(level) && has.includes(level)),
    present: wanted.filter((level) => has.includes(level)),
    kept: has.filter((level) => !wanted.includes(level) && !before.includes(level)),
  };
}

/** PAT names the operator gives a token: its name, then `name-rN` after the Nth rotation. */
function patsOfToken(name: string, pats: readonly PersonalAccessToken[]): PersonalAccessToken[] {
  const rotated = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-r([0-9]+)$`);
  const rotation = (pat: PersonalAccessToken) =>
    pat.name === name ? 0 : Number(rotated.exec(pat.name)?.[1] ?? -1);
  return pats.filter((pat) => rotation(pat) >= 0).sort((a, b) => rotation(b) - rotation(a));
}

function formatLead(leadMs: number): string {
  const hours = leadMs / 3_600_000;
  return hours % 24 === 0 ? `${hours / 24} days` : `${Math.round(hours * 10) / 10} hours`;
}

/**
 * Plans the tokens of one resource. `pats` is undefined when the identity does not exist yet
 * or its PATs could not be listed; `now` decides which PATs are within the rotation lead time.
 */
export function planTokens(
  spec: ServiceAccountSpec,
  baseSpec: ServiceAccountSpec | undefined,
  pats: readonly PersonalAccessToken[] | undefined,
  identityExists: boolean,
  now: Date,
): TokenPlan[] {
  const plans: TokenPlan[] = [];
  const wanted = spec.tokens ?? [];
  for (const token of wanted) {
    if (!identityExists) {
      plans.push({
        name: token.name,
        action: 'mint',
        detail: 'minted once the identity exists and spec.bootstrapCredentialsSecretRef works',
      });
      continue;
    }
    if (pats === undefined) {
      plans.push({ name: token.name, action: 'unknown', detail: 'the PATs could not be listed' });
      continue;
    }
    const newest = patsOfToken(token.name, pats)[0];
    if (!newest) {
      plans.push({
        name: token.name,
        action: 'mint',
        detail: `no PAT named ${token.name}; minted into Secret ${token.secretName}`,
      });
      continue;
    }
    const pat = {
      id: newest.id,
      name: newest.name,
      expirationDate: newest.expirationDate ?? null,
    };
    const expires = pat.expirationDate === null ? undefined : Date.parse(pat.expirationDate);
    // The lead time is capped at half the PAT's validity, which needs its creation time.
    const validForMs =
      expires !== undefined && newest.created ? expires - Date.parse(newest.created) : Infinity;
    const leadMs = rotationLeadMs(token, validForMs);
    if (expires !== undefined && now.getTime() >= expires - leadMs) {
      plans.push({
        name: token.name,
        action: 'rotate',
        pat,
        detail: `PAT ${pat.name} expires ${pat.expirationDate}, within the rotation lead time of ${formatLead(leadMs)}`,
      });
      continue;
    }
    plans.push({
      name: token.name,
      action: 'keep',
      pat,
      detail: `PAT ${pat.name} exists, ${pat.expirationDate === null ? 'never expires' : `expires ${pat.expirationDate}`}`,
    });
  }

  const wantedNames = new Set(wanted.map((token) => token.name));
  for (const token of baseSpec?.tokens ?? []) {
    if (wantedNames.has(token.name) || !identityExists) continue;
    const existing = pats === undefined ? [] : patsOfToken(token.name, pats);
    if (pats !== undefined && existing.length === 0) continue;
    const newest = existing[0];
    plans.push({
      name: token.name,
      action: 'revoke',
      ...(newest
        ? {
            pat: {
              id: newest.id,
              name: newest.name,
              expirationDate: newest.expirationDate ?? null,
            },
          }
        : {}),
      detail: `removed from spec.tokens: the operator revokes ${existing.map((pat) => pat.name).join(', ') || 'its PAT'} and deletes Secret ${token.secretName}`,
    });
  }
  return plans;
}
