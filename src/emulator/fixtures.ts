// Fixtures: identities, delimited-file sources and accounts that exist before the first request,
// for example accounts that a tenant already had and that the operator does not own.

import { newId, nowIso } from './ids.ts';
import { stringAttribute } from './source-defaults.ts';
import type { SeedIdentity, TenantState } from './state.ts';
import type { AccountRecord, SourceDto } from './state-types.ts';

export interface FixtureIdentity extends Omit<SeedIdentity, 'capabilities'> {
  /** User level capabilities, for example `ORG_ADMIN`. Default: none. */
  capabilities?: string[];
}

/** A DelimitedFile source, created as POST /sources?provisionAsCsv=true would create it. */
export interface FixtureSource {
  id?: string;
  name: string;
  /** Owner identity id. Default: the seeded admin identity. */
  ownerId?: string;
  /** Attribute names of the account schema, all STRING. Default: the DelimitedFile defaults. */
  accountAttributes?: string[];
  /** Account schema identityAttribute. Default: the first of accountAttributes, else `id`. */
  identityAttribute?: string;
  /** Account schema displayAttribute. Default: unchanged (`name`). */
  displayAttribute?: string;
}

export interface FixtureAccount {
  id?: string;
  /** Id or name of the source, which must be a fixture source or already exist. */
  source: string;
  /** Attribute values; the schema's identity attribute is required and becomes nativeIdentity. */
  attributes: Record<string, string>;
  /** Identity the account is correlated with. Default: none (uncorrelated). */
  identityId?: string;
}

export interface EmulatorFixtures {
  identities?: FixtureIdentity[];
  sources?: FixtureSource[];
  accounts?: FixtureAccount[];
}

function findSource(state: TenantState, idOrName: string): SourceDto {
  const source =
    state.sources.get(idOrName) ??
    [...state.sources.values()].find((candidate) => candidate.name === idOrName);
  if (!source) throw new Error(`Fixture account refers to source "${idOrName}", which is missing.`);
  return source;
}

function addSource(state: TenantState, fixture: FixtureSource, adminIdentityId: string): void {
  const created = state.createSource(
    {
      name: fixture.name,
      owner: { type: 'IDENTITY', id: fixture.ownerId ?? adminIdentityId },
      connector: 'delimited-file-angularsc',
    },
    true,
  );
  let source = created;
  if (fixture.id !== undefined && fixture.id !== created.id) {
    if (state.sources.has(fixture.id)) {
      throw new Error(`Fixture source id "${fixture.id}" is used twice.`);
    }
    source = { ...created, id: fixture.id };
    state.sources.delete(created.id);
    state.sources.set(source.id, source);
    state.schemas.set(source.id, state.schemas.get(created.id) ?? []);
    state.schemas.delete(created.id);
  }

  const schema = state.accountSchema(source.id)!;
  if (fixture.accountAttributes !== undefined) {
    schema.attributes = fixture.accountAttributes.map(stringAttribute);
    schema.identityAttribute = fixture.accountAttributes[0] ?? 'id';
  }
  if (fixture.identityAttribute !== undefined) schema.identityAttribute = fixture.identityAttribute;
  if (fixture.displayAttribute !== undefined) schema.displayAttribute = fixture.displayAttribute;
  const names = new Set(schema.attributes.map((attribute) => attribute.name));
  for (const name of [schema.identityAttribute, schema.displayAttribute]) {
    if (name && !names.has(name)) {
      throw new Error(
        `Fixture source "${fixture.name}" names "${name}", which is not an attribute.`,
      );
    }
  }
}

function addAccount(state: TenantState, fixture: FixtureAccount): void {
  const source = findSource(state, fixture.source);
  const schema = state.accountSchema(source.id)!;
  const declared = new Set(schema.attributes.map((attribute) => attribute.name));

  for (const name of Object.keys(fixture.attributes)) {
    if (!declared.has(name)) {
      throw new Error(
        `Fixture account attribute "${name}" is not in the schema of "${source.name}".`,
      );
    }
  }
  const nativeIdentity = fixture.attributes[schema.identityAttribute!];
  if (!nativeIdentity) {
    throw new Error(
      `Fixture account on "${source.name}" needs the identity attribute "${schema.identityAttribute}".`,
    );
  }
  if (state.findByNativeIdentity(source.id, nativeIdentity)) {
    throw new Error(`Fixture account "${nativeIdentity}" exists twice on "${source.name}".`);
  }

  let identityId: string | null = null;
  if (fixture.identityId !== undefined) {
    const record = state.identities.get(fixture.identityId);
    if (!record) throw new Error(`Fixture identity "${fixture.identityId}" is missing.`);
    record.correlated = true;
    identityId = fixture.identityId;
  }

  const now = nowIso();
  const account: AccountRecord = {
    id: fixture.id ?? newId(),
    sourceId: source.id,
    nativeIdentity,
    name: nativeIdentity,
    attributes: {},
    identityId,
    created: now,
    modified: now,
  };
  state.writeAccount(account, { ...fixture.attributes });
  state.accounts.set(account.id, account);
}

/** Adds fixtures in order: identities, then sources, then accounts. Raises an Error on a bad one. */
export function loadFixtures(
  state: TenantState,
  fixtures: EmulatorFixtures,
  adminIdentityId: string,
): void {
  for (const identity of fixtures.identities ?? []) {
    if (identity.id !== undefined && state.identities.has(identity.id)) {
      throw new Error(`Fixture identity id "${identity.id}" is used twice.`);
    }
    state.seedIdentity({ ...identity, capabilities: identity.capabilities ?? [] });
  }
  for (const source of fixtures.sources ?? []) addSource(state, source, adminIdentityId);
  for (const account of fixtures.accounts ?? []) addAccount(state, account);
}
