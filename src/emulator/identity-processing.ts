// Identity processing ("Apply Changes" of an identity profile): creates and correlates identities
// for the accounts of the profile's authoritative source and computes their attributes.

import { newId, nowIso } from './ids.ts';
import type { TenantState } from './state.ts';
import type {
  AccountRecord,
  IdentityProfileDto,
  IdentityRecord,
  TaskStatusDto,
} from './state-types.ts';

/**
 * Submits identity processing for a profile: after the async delay every account of the
 * authoritative source gets an identity (new ones are created and correlated) whose attributes
 * come from the profile's accountAttribute transforms.
 */
export function submitProcessIdentities(
  state: TenantState,
  id: string,
  launcher: string,
): TaskStatusDto {
  const profile = state.getIdentityProfile(id);
  return state.startTask(
    'Identity Refresh',
    `Process identities of ${profile.name}`,
    launcher,
    () => {
      const current = state.identityProfiles.get(id);
      if (!current) throw new Error(`identity profile ${id} was deleted before processing`);
      for (const account of state.accounts.values()) {
        if (account.sourceId === current.authoritativeSource.id) {
          processAccount(state, current, account);
        }
      }
      current.identityRefreshRequired = false;
    },
  );
}

/** Evaluates the profile's transforms for one account; other transform types are skipped. */
function mappedAttributes(
  state: TenantState,
  profile: IdentityProfileDto,
  account: AccountRecord,
): Record<string, string> {
  const mapped: Record<string, string> = {};
  const source = state.sources.get(account.sourceId);
  for (const transform of profile.identityAttributeConfig?.attributeTransforms ?? []) {
    const definition = transform.transformDefinition;
    const name = transform.identityAttributeName;
    // TODO: only the accountAttribute transform is evaluated. Other types (static, concat,
    // reference rules) leave the identity attribute unset.
    if (!name || definition?.type !== 'accountAttribute') continue;
    const attributes = definition.attributes ?? {};
    const matchesSource =
      attributes.sourceId === account.sourceId ||
      (attributes.sourceId === undefined && attributes.sourceName === source?.name);
    const value = account.attributes[String(attributes.attributeName)];
    if (matchesSource && value !== undefined && value !== '') mapped[name] = value;
  }
  return mapped;
}

function processAccount(
  state: TenantState,
  profile: IdentityProfileDto,
  account: AccountRecord,
): void {
  const mapped = mappedAttributes(state, profile, account);
  const uid = mapped.uid ?? account.name;
  const now = nowIso();
  const existing = account.identityId ? state.identities.get(account.identityId) : undefined;
  const record: IdentityRecord = existing ?? {
    identity: {
      id: newId(),
      name: uid,
      created: now,
      modified: now,
      alias: uid,
      emailAddress: null,
      processingState: null,
      identityStatus: 'UNREGISTERED',
      managerRef: null,
      isManager: false,
      lastRefresh: now,
      attributes: { cloudStatus: 'UNREGISTERED' },
      lifecycleState: null,
    },
    correlated: true,
    identityProfileId: profile.id,
    // New identities start at the basic user level, with no capabilities.
    capabilities: [],
    invitedAt: null,
  };
  const identity = record.identity;
  const displayName =
    mapped.displayName ?? ([mapped.firstname, mapped.lastname].filter(Boolean).join(' ') || uid);
  identity.name = uid;
  identity.alias = uid;
  identity.emailAddress = mapped.email ?? null;
  identity.attributes = {
    ...mapped,
    uid,
    displayName,
    cloudStatus: identity.attributes.cloudStatus ?? 'UNREGISTERED',
  };
  identity.processingState = 'OK';
  identity.lastRefresh = now;
  identity.modified = now;
  record.correlated = true;
  record.identityProfileId = profile.id;
  state.identities.set(identity.id, record);

  account.identityId = identity.id;
}
