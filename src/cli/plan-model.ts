/**
 * Computes what the operator would change in a tenant for a set of ServiceAccounts, from
 * read-only calls. It mirrors the operator's decisions in src/controller/reconcile.ts and
 * tenant.ts. Ownership (status.accountOwned) is stored only in the cluster, so it is reported as
 * unknown. The files of the base revision, when given, show which resources, user levels and
 * tokens a change removes.
 */
import { accountNameOf, desiredAccountAttributes } from '../controller/reconcile.ts';
import {
  delimitedFileTemplateAttributes,
  requiredAccountAttributes,
  requiredMappings,
} from '../controller/tenant.ts';
import type { IscApi } from '../isc/api.ts';
import { eq } from '../isc/filters.ts';
import type { Account, IdentityProfile, Source, SourceSchema } from '../isc/types.ts';
import type { ServiceAccount } from '../kube/types.ts';
import type { CheckedResource } from '../validation/validate.ts';
import {
  type IdentityAccess,
  planTokens,
  planUserLevels,
  readIdentityAccess,
  type TokenPlan,
  type UserLevelPlan,
} from './plan-access.ts';
import type { Progress } from './progress.ts';
import type { TenantTarget } from './tenant-connection.ts';

/**
 * Operator action for one resource. `create` and `update` write to ISC; `adopt`
 * takes ownership and writes only when `changes` is not empty; `observe` never writes.
 * `delete` and `orphan` are for resources the base revision has and this one removes.
 */
export type AccountAction =
  | 'create'
  | 'update'
  | 'adopt'
  | 'delete'
  | 'orphan'
  | 'unchanged'
  | 'observe'
  | 'blocked';

export interface AttributeChange {
  attribute: string;
  /** Value in ISC; undefined when the account does not exist yet. */
  from: string | undefined;
  to: string;
}

export interface AccountPlan {
  /** `namespace/name` of the ServiceAccount. */
  resource: string;
  file: string;
  line: number;
  accountId: string | undefined;
  accountName: string;
  action: AccountAction;
  changes: AttributeChange[];
  /** Present when the spec or the base revision lists user levels. */
  userLevels?: UserLevelPlan;
  tokens: TokenPlan[];
  notes: string[];
}

/** A change to the source, its account schema or the identity profile. */
export interface TenantChange {
  object: 'source' | 'account schema' | 'identity profile' | 'identities';
  action: 'create' | 'update' | 'process';
  detail: string;
}

/** An account on the source that no ServiceAccount in the files claims. */
export interface UnmanagedAccount {
  accountId: string;
  name: string;
  iscId: string;
  identityId: string | undefined;
}

export interface Plan {
  tenant: { name: string; baseUrl: string; source: string; identityProfile: string };
  tenantChanges: TenantChange[];
  accounts: AccountPlan[];
  unmanaged: UnmanagedAccount[];
  /** Resources that name another tenant in spec.tenantRef, left out of this plan. */
  otherTenants: string[];
  /** Reasons the operator could not converge; it would report the resource as stalled. */
  problems: string[];
}

/** True when applying the plan would send a write to ISC. */
export function hasChanges(plan: Plan): boolean {
  return plan.tenantChanges.length > 0 || plan.accounts.some(writesToIsc);
}

export function writesToIsc(account: AccountPlan): boolean {
  if (['create', 'update', 'delete'].includes(account.action)) return true;
  if (account.action === 'adopt' && account.changes.length > 0) return true;
  if (account.action === 'blocked' || account.action === 'observe') return false;
  if ((account.userLevels?.add.length ?? 0) + (account.userLevels?.withdraw.length ?? 0) > 0)
    return true;
  return account.tokens.some((token) => ['mint', 'rotate', 'revoke'].includes(token.action));
}

export interface PlanOptions {
  /** ServiceAccounts and Tenants of the base revision (e.g. the target branch of a pull request). */
  base?: readonly CheckedResource[] | undefined;
  /** Time that decides which tokens are due for rotation. */
  now: Date;
  progress: Progress;
}

/** Reads the tenant (GET requests only) and compares it with the ServiceAccounts. */
export async function computePlan(
  api: IscApi,
  tenant: TenantTarget,
  resources: readonly CheckedResource[],
  options: PlanOptions,
): Promise<Plan> {
  const plan: Plan = {
    tenant: {
      name: tenant.name,
      baseUrl: tenant.baseUrl,
      source: tenant.sourceName,
      identityProfile: tenant.identityProfileName,
    },
    tenantChanges: [],
    accounts: [],
    unmanaged: [],
    otherTenants: [],
    problems: [],
  };
  const serviceAccounts = serviceAccountsOf(resources, tenant, plan.otherTenants);
  const baseAccounts = new Map(
    serviceAccountsOf(options.base ?? [], tenant, []).map((entry) => [entry.checked.key, entry]),
  );

  const source = await api.findSourceByName(tenant.sourceName);
  let schemaNames: Set<string>;
  let accounts: Account[] = [];
  if (!source) {
    plan.tenantChanges.push({
      object: 'source',
      action: 'create',
      detail: `delimited-file source "${tenant.sourceName}" with the account schema ${requiredAccountAttributes.join(', ')}`,
    });
    schemaNames = new Set(requiredAccountAttributes);
  } else {
    if (source.type !== undefined && source.type !== 'DelimitedFile') {
      plan.problems.push(
        `source "${source.name}" (${source.id}) is of type ${source.type}, not DelimitedFile; the operator stops with SourceTypeMismatch`,
      );
    }
    accounts = await listAccounts(api, source, options.progress);
    schemaNames = await planSchema(api, source, accounts.length > 0, plan);
  }
  await planProfile(api, tenant, source, plan);

  const byAccountId = new Map(
    accounts.map((account) => [account.nativeIdentity.toLowerCase(), account]),
  );
  const claimed = new Set<string>();
  let identityProcessing = false;
  const planned: Array<{ entry: AccountPlan; resource: ServiceAccount; base?: ServiceAccount }> =
    [];
  for (const { checked, resource } of serviceAccounts) {
    const entry = planAccount(checked, resource, schemaNames, byAccountId, accounts, plan, tenant);
    if (resource.spec.accountId) claimed.add(resource.spec.accountId.toLowerCase());
    if (entry.notes.some((note) => note.startsWith('no identity yet'))) identityProcessing = true;
    const base = baseAccounts.get(checked.key)?.resource;
    planned.push({ entry, resource, ...(base ? { base } : {}) });
    plan.accounts.push(entry);
  }
  await planIdentityAccess(api, planned, byAccountId, options);

  const present = new Set(serviceAccounts.map((entry) => entry.checked.key));
  for (const { checked, resource } of baseAccounts.values()) {
    if (present.has(checked.key)) continue;
    const entry = planRemoval(checked, resource, byAccountId);
    if (entry) {
      claimed.add(entry.accountId!.toLowerCase());
      plan.accounts.push(entry);
    }
  }
  if (identityProcessing || plan.accounts.some((entry) => entry.action === 'create')) {
    plan.tenantChanges.push({
      object: 'identities',
      action: 'process',
      detail: `identity processing on profile "${tenant.identityProfileName}" for new or changed accounts`,
    });
  }

  for (const account of accounts) {
    if (claimed.has(account.nativeIdentity.toLowerCase())) continue;
    plan.unmanaged.push({
      accountId: account.nativeIdentity,
      name: stringOf(account.attributes?.name) ?? account.name,
      iscId: account.id,
      identityId: account.identityId ?? undefined,
    });
  }
  return plan;
}

/** Returns the ServiceAccounts of this tenant and names those of others in `otherTenants`. */
function serviceAccountsOf(
  resources: readonly CheckedResource[],
  tenant: TenantTarget,
  otherTenants: string[],
): Array<{ checked: CheckedResource; resource: ServiceAccount }> {
  const serviceAccounts: Array<{ checked: CheckedResource; resource: ServiceAccount }> = [];
  for (const checked of resources) {
    if (checked.kind !== 'ServiceAccount') continue;
    const resource = checked.object as unknown as ServiceAccount;
    // As in the operator, status.tenant (in `kubectl get -o yaml` output) keeps an account in
    // the tenant it was created in.
    const tenantRef = resource.spec.tenantRef?.name ?? resource.status?.tenant;
    if (tenantRef !== undefined && tenantRef !== tenant.name) {
      otherTenants.push(`${checked.key} (tenant ${tenantRef})`);
      continue;
    }
    serviceAccounts.push({ checked, resource });
  }
  return serviceAccounts;
}

async function listAccounts(api: IscApi, source: Source, progress: Progress): Promise<Account[]> {
  const accounts: Account[] = [];
  const pages = api.list<Account>(
    'accounts',
    '',
    { filters: eq('sourceId', source.id), sorters: 'id' },
    (read, total) => progress.update('reading accounts', read, total),
  );
  for await (const account of pages) accounts.push(account);
  progress.end();
  return accounts;
}

/**
 * Reads user levels and PATs of the identities whose resources request them (now or in the
 * base revision), one identity after the other, and fills in the access part of each entry.
 */
async function planIdentityAccess(
  api: IscApi,
  planned: ReadonlyArray<{ entry: AccountPlan; resource: ServiceAccount; base?: ServiceAccount }>,
  byAccountId: ReadonlyMap<string, Account>,
  options: PlanOptions,
): Promise<void> {
  const needing = planned.filter(({ entry, resource, base }) => {
    if (entry.action === 'blocked' || entry.action === 'observe') return false;
    const specs = [resource.spec, base?.spec];
    return specs.some((spec) => (spec?.userLevel?.length ?? 0) + (spec?.tokens?.length ?? 0) > 0);
  });
  let done = 0;
  for (const { entry, resource, base } of needing) {
    const account =
      entry.accountId === undefined ? undefined : byAccountId.get(entry.accountId.toLowerCase());
    const identityId = entry.action === 'create' ? undefined : account?.identityId;
    const wantsLevels = [resource.spec, base?.spec].some((spec) => spec?.userLevel?.length);
    const wantsTokens = [resource.spec, base?.spec].some((spec) => spec?.tokens?.length);
    let access: IdentityAccess = { capabilities: undefined, tokens: undefined, notes: [] };
    if (identityId) {
      access = await readIdentityAccess(api, identityId, {
        userLevels: wantsLevels,
        tokens: wantsTokens,
      });
      options.progress.update('reading identities', ++done, needing.length);
    }
    entry.notes.push(...access.notes);
    const userLevels = planUserLevels(resource.spec, base?.spec, access.capabilities);
    if (userLevels) entry.userLevels = userLevels;
    entry.tokens = planTokens(
      resource.spec,
      base?.spec,
      access.tokens,
      identityId !== undefined,
      options.now,
    );
  }
  options.progress.end();
}

/**
 * Plans a resource the base revision has and this one removes. Deleting it deletes its account
 * with `deletionPolicy: Delete`, but only an account the resource owns. Returns undefined when
 * the account does not exist.
 */
function planRemoval(
  checked: CheckedResource,
  resource: ServiceAccount,
  byAccountId: ReadonlyMap<string, Account>,
): AccountPlan | undefined {
  const accountId = resource.spec.accountId;
  const account = accountId === undefined ? undefined : byAccountId.get(accountId.toLowerCase());
  if (!account) return undefined;
  const keeps =
    resource.spec.deletionPolicy === 'Orphan' || resource.spec.managementPolicy === 'ObserveOnly';
  const entry: AccountPlan = {
    resource: checked.key,
    file: checked.document.file,
    line: checked.document.line,
    accountId,
    accountName: accountNameOf(resource),
    action: keeps ? 'orphan' : 'delete',
    changes: [],
    tokens: [],
    notes: [],
  };
  if (keeps) {
    entry.notes.push(
      resource.spec.managementPolicy === 'ObserveOnly'
        ? 'removed from the files; ObserveOnly never deletes, so the account stays'
        : 'removed from the files with deletionPolicy Orphan: the account and its identity stay',
    );
  } else {
    entry.notes.push(
      `removed from the files: the operator withdraws the user levels it added and deletes account ${account.id} if this resource owns it (status.accountOwned, in the cluster); the token Secrets go with the resource`,
    );
  }
  return entry;
}

/**
 * Records the schema changes the operator would make (missing required attributes, keys,
 * order, template attributes of an empty source) and returns the attribute names after them.
 */
async function planSchema(
  api: IscApi,
  source: Source,
  hasAccounts: boolean,
  plan: Plan,
): Promise<Set<string>> {
  const schema: SourceSchema | undefined = await api.getAccountSchema(source.id);
  if (!schema) {
    plan.problems.push(
      `source "${source.name}" (${source.id}) has no account schema; the operator stops with SchemaMismatch`,
    );
    return new Set(requiredAccountAttributes);
  }
  const current = schema.attributes.map((attribute) => attribute.name);
  let desired = current.filter((name) => hasAccounts || !delimitedFileTemplateAttributes.has(name));
  desired.push(...requiredAccountAttributes.filter((name) => !current.includes(name)));
  const rank = (name: string) => {
    const index = requiredAccountAttributes.indexOf(name);
    return index === -1 ? requiredAccountAttributes.length : index;
  };
  desired = [...desired].sort((a, b) => rank(a) - rank(b));

  const details: string[] = [];
  if (desired.join('\u0000') !== current.join('\u0000'))
    details.push(`attributes ${current.join(', ')} → ${desired.join(', ')}`);
  if (schema.identityAttribute !== 'id')
    details.push(`identityAttribute ${schema.identityAttribute ?? '(none)'} → id`);
  if (schema.displayAttribute !== 'name')
    details.push(`displayAttribute ${schema.displayAttribute ?? '(none)'} → name`);
  if (details.length > 0)
    plan.tenantChanges.push({
      object: 'account schema',
      action: 'update',
      detail: details.join('; '),
    });
  return new Set(desired);
}

/** Records whether the identity profile would be created or its mappings restored. */
async function planProfile(
  api: IscApi,
  tenant: TenantTarget,
  source: Source | undefined,
  plan: Plan,
): Promise<void> {
  const profile: IdentityProfile | undefined = await api.findIdentityProfileByName(
    tenant.identityProfileName,
  );
  const mappings = requiredMappings
    .map((mapping) => `${mapping.identityAttribute} ← ${mapping.accountAttribute}`)
    .join(', ');
  if (!profile) {
    plan.tenantChanges.push({
      object: 'identity profile',
      action: 'create',
      detail: `"${tenant.identityProfileName}", authoritative for "${tenant.sourceName}", mappings ${mappings}`,
    });
    return;
  }
  if (!source) {
    plan.problems.push(
      `identity profile "${profile.name}" exists but source "${tenant.sourceName}" does not; after creating the source the operator stops with ProfileSourceMismatch`,
    );
    return;
  }
  if (profile.authoritativeSource.id !== source.id) {
    plan.problems.push(
      `identity profile "${profile.name}" is authoritative for source ${profile.authoritativeSource.id}, not "${source.name}" (${source.id}); the operator stops with ProfileSourceMismatch`,
    );
    return;
  }
  const transforms = profile.identityAttributeConfig?.attributeTransforms ?? [];
  const missing = requiredMappings.filter(
    (mapping) =>
      !transforms.some(
        (transform) =>
          transform.identityAttributeName === mapping.identityAttribute &&
          transform.transformDefinition?.type === 'accountAttribute' &&
          transform.transformDefinition.attributes?.attributeName === mapping.accountAttribute &&
          transform.transformDefinition.attributes?.sourceId === source.id,
      ),
  );
  const disabled = profile.identityAttributeConfig?.enabled === false;
  if (missing.length > 0 || disabled) {
    const fixes = missing.map(
      (mapping) => `${mapping.identityAttribute} ← ${mapping.accountAttribute}`,
    );
    if (disabled) fixes.push('enable the attribute configuration');
    plan.tenantChanges.push({
      object: 'identity profile',
      action: 'update',
      detail: `restore mappings: ${fixes.join(', ')}`,
    });
  }
}

function planAccount(
  checked: CheckedResource,
  resource: ServiceAccount,
  schemaNames: ReadonlySet<string>,
  byAccountId: ReadonlyMap<string, Account>,
  accounts: readonly Account[],
  plan: Plan,
  tenant: TenantTarget,
): AccountPlan {
  const accountId = resource.spec.accountId;
  const accountName = accountNameOf(resource);
  const desired = desiredAccountAttributes(resource);
  const entry: AccountPlan = {
    resource: checked.key,
    file: checked.document.file,
    line: checked.document.line,
    accountId,
    accountName,
    action: 'unchanged',
    changes: [],
    tokens: [],
    notes: [],
  };

  const refused = (resource.spec.userLevel ?? []).filter(
    (level) => !tenant.allowedUserLevels.includes(level),
  );
  if (refused.length > 0) {
    entry.action = 'blocked';
    entry.notes.push(
      `spec.userLevel asks for ${refused.join(', ')}, which the Tenant's policy does not allow (UserLevelNotAllowed)`,
    );
    plan.problems.push(
      `${checked.key}: spec.userLevel asks for ${refused.join(', ')}, which spec.policy.allowedUserLevels of tenant ${tenant.name} does not allow`,
    );
    return entry;
  }

  const unknown = Object.keys(resource.spec.attributes ?? {}).filter(
    (name) => !schemaNames.has(name),
  );
  if (unknown.length > 0) {
    entry.action = 'blocked';
    entry.notes.push(
      `spec.attributes names ${unknown.join(', ')}, which the account schema lacks (InvalidSpec)`,
    );
    plan.problems.push(
      `${checked.key}: spec.attributes names ${unknown.join(', ')}, which the account schema of "${plan.tenant.source}" lacks`,
    );
    return entry;
  }

  const account = accountId === undefined ? undefined : byAccountId.get(accountId.toLowerCase());
  const observeOnly = resource.spec.managementPolicy === 'ObserveOnly';
  if (!account) {
    if (observeOnly) {
      entry.action = 'observe';
      entry.notes.push(
        accountId
          ? `account ${accountId} does not exist (AccountNotFound); ObserveOnly never creates it`
          : 'ObserveOnly needs spec.accountId (InvalidSpec)',
      );
      return entry;
    }
    entry.action = 'create';
    entry.changes = Object.entries(desired).map(([attribute, to]) => ({
      attribute,
      from: undefined,
      to,
    }));
    if (accountId === undefined) {
      entry.changes = entry.changes.filter((change) => change.attribute !== 'id');
      entry.notes.push(
        'spec.accountId is empty: the operator generates sa-<12 hex digits of the uid> and writes it into the spec in the cluster, not into this file',
      );
      const sameName = accounts.find(
        (candidate) =>
          stringOf(candidate.attributes?.name)?.toLowerCase() === accountName.toLowerCase(),
      );
      if (sameName) {
        entry.notes.push(
          `an account named "${accountName}" already exists with id ${sameName.nativeIdentity}; if it belongs to this resource, set spec.accountId: ${sameName.nativeIdentity}`,
        );
      }
    }
    return entry;
  }

  const current = account.attributes ?? {};
  const names = new Set([...schemaNames, ...Object.keys(desired)]);
  for (const attribute of names) {
    const to = desired[attribute] ?? '';
    const value = current[attribute] ?? '';
    if (value === to) continue;
    entry.changes.push({ attribute, from: stringOf(value) ?? JSON.stringify(value), to });
  }

  if (observeOnly) {
    entry.action = 'observe';
    if (entry.changes.length > 0)
      entry.notes.push(
        'ISC differs from the spec (DriftDetected); ObserveOnly reports it and changes nothing',
      );
  } else if (resource.status?.accountOwned === true) {
    entry.action = entry.changes.length > 0 ? 'update' : 'unchanged';
  } else if (resource.spec.adopt) {
    entry.action = 'adopt';
    entry.notes.push(`adopts existing account ${account.id}`);
  } else {
    entry.action = entry.changes.length > 0 ? 'update' : 'unchanged';
    entry.notes.push(
      'the account exists; the operator manages it only if this resource created it (status.accountOwned in the cluster, unknown offline), otherwise it reports AccountNotOwned until spec.adopt is true',
    );
  }
  if (!observeOnly && !account.identityId)
    entry.notes.push('no identity yet: the operator starts identity processing');
  return entry;
}

function stringOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
