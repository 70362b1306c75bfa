// In-memory tenant of the ISC emulator: sources, schemas, accounts, identity profiles, identities,
// PATs and tasks, plus the asynchronous work (account changes) that ISC runs in the background.
// CSV aggregation, identity processing and access (PATs, user levels) live in aggregation.ts,
// identity-processing.ts and access.ts. HTTP routing lives in routes/. This module raises
// IscHttpError for invalid requests, so that all layers share one error vocabulary.

import { createHash } from 'node:crypto';
import { TenantClock } from './clock.ts';
import { badRequest, illegalUpdate, notFound } from './errors.ts';
import { newId, newUuid, nowIso } from './ids.ts';
import { applyJsonPatch, type PatchOperation, touchedTopLevelFields } from './json-patch.ts';
import {
  defaultDelimitedSchemas,
  delimitedFileConnector,
  delimitedFileConnectorAttributes,
} from './source-defaults.ts';
import type {
  AccountRecord,
  IdentityDto,
  IdentityProfileDto,
  IdentityRecord,
  PersonalAccessTokenRecord,
  Reference,
  SchemaDto,
  SourceDto,
  TaskStatusDto,
} from './state-types.ts';

export interface TenantStateOptions {
  /** Delay before background work (account changes, identity processing) takes effect. */
  asyncDelayMs: number;
  /** Returns a delay that replaces asyncDelayMs for a task, by its uniqueName, if one is set. */
  taskDelayMs?: (taskName: string) => number | undefined;
  /** Clock of the time-based rules. Default: a clock that follows the system time. */
  clock?: TenantClock;
  /**
   * Time after a PAT's scope change until new access tokens carry the new scopes. Default 0.
   * ISC documents up to 20 minutes.
   */
  patScopeDelayMs?: number;
}

/** Identity seeded before any request, for example the ORG_ADMIN owning the default PAT. */
export interface SeedIdentity {
  id?: string;
  alias: string;
  email: string;
  firstname: string;
  lastname: string;
  capabilities: string[];
}

const immutableSourceFields = [
  'id',
  'type',
  'authoritative',
  'connector',
  'connectorClass',
  'passwordPolicies',
] as const;
const immutableSchemaFields = ['id', 'name', 'created', 'modified'] as const;
const immutableProfileFields = [
  'id',
  'created',
  'modified',
  'identityCount',
  'identityRefreshRequired',
] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameJson(left: unknown, right: unknown): boolean {
  return JSON.stringify(left) === JSON.stringify(right);
}

export class TenantState {
  readonly sources = new Map<string, SourceDto>();
  /** Schemas by source id. */
  readonly schemas = new Map<string, SchemaDto[]>();
  readonly accounts = new Map<string, AccountRecord>();
  readonly identityProfiles = new Map<string, IdentityProfileDto>();
  readonly identities = new Map<string, IdentityRecord>();
  readonly tasks = new Map<string, TaskStatusDto>();
  /** Personal access tokens by id (the OAuth client id); see access.ts. */
  readonly personalAccessTokens = new Map<string, PersonalAccessTokenRecord>();
  /** Secret of every PAT ever stored, deleted ones included, for leak scans in tests. */
  readonly issuedClientSecrets = new Set<string>();
  readonly clock: TenantClock;
  readonly patScopeDelayMs: number;

  readonly #asyncDelayMs: number;
  readonly #taskDelayMs: (taskName: string) => number | undefined;
  /** Background work that has not run yet, by its timer. */
  readonly #pending = new Map<NodeJS.Timeout, () => void>();

  constructor(options: TenantStateOptions) {
    this.#asyncDelayMs = options.asyncDelayMs;
    this.#taskDelayMs = options.taskDelayMs ?? (() => undefined);
    this.clock = options.clock ?? new TenantClock();
    this.patScopeDelayMs = options.patScopeDelayMs ?? 0;
  }

  /** Cancels background work that has not run yet. */
  close(): void {
    for (const timer of this.#pending.keys()) clearTimeout(timer);
    this.#pending.clear();
  }

  /** Runs all pending background work now, in the order it was submitted. */
  flushPendingWork(): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const [timer, work] of pending) {
      clearTimeout(timer);
      work();
    }
  }

  #later(taskName: string, work: () => void): void {
    const delayMs = this.#taskDelayMs(taskName) ?? this.#asyncDelayMs;
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      work();
    }, delayMs);
    this.#pending.set(timer, work);
  }

  // ---- identities -------------------------------------------------------------------------------

  seedIdentity(seed: SeedIdentity): IdentityDto {
    const now = nowIso();
    const displayName = `${seed.firstname} ${seed.lastname}`;
    // NOTE: the attribute values of a registered identity are not documented, so ACTIVE is
    // assumed for both identityStatus and cloudStatus.
    const identity: IdentityDto = {
      id: seed.id ?? newId(),
      name: seed.alias,
      created: now,
      modified: now,
      alias: seed.alias,
      emailAddress: seed.email,
      processingState: null,
      identityStatus: 'ACTIVE',
      managerRef: null,
      isManager: false,
      lastRefresh: now,
      attributes: {
        uid: seed.alias,
        firstname: seed.firstname,
        lastname: seed.lastname,
        email: seed.email,
        displayName,
        cloudStatus: 'ACTIVE',
      },
      lifecycleState: null,
    };
    this.identities.set(identity.id, {
      identity,
      correlated: true,
      identityProfileId: null,
      capabilities: [...seed.capabilities],
      invitedAt: null,
    });
    return identity;
  }

  getIdentity(id: string): IdentityDto {
    const record = this.identities.get(id);
    if (!record) throw notFound('Identity', id);
    return structuredClone(record.identity);
  }

  #identityReference(id: string, kind: string): Reference<'IDENTITY'> {
    const record = this.identities.get(id);
    if (!record) throw badRequest(`The ${kind} identity "${id}" does not exist.`);
    return { type: 'IDENTITY', id, name: record.identity.name };
  }

  // ---- sources ----------------------------------------------------------------------------------

  getSource(id: string): SourceDto {
    const source = this.sources.get(id);
    if (!source) throw notFound('Source', id);
    return source;
  }

  #checkUniqueSourceName(name: string, exceptId?: string): void {
    for (const source of this.sources.values()) {
      if (source.id !== exceptId && source.name.toLowerCase() === name.toLowerCase()) {
        // NOTE: ISC rejects duplicate source names, but the exact status and wording are assumed.
        throw badRequest(`A source named "${name}" already exists.`);
      }
    }
  }

  /**
   * Creates a source. With `provisionAsCsv` it becomes a Delimited File source with the connector
   * values and default schemas that ISC gives one. Without it, the body is stored as sent.
   */
  createSource(body: Record<string, unknown>, provisionAsCsv: boolean): SourceDto {
    const name = String(body.name);
    this.#checkUniqueSourceName(name);
    const ownerId = isPlainObject(body.owner) ? String(body.owner.id ?? '') : '';
    const owner = this.#identityReference(ownerId, 'owner');
    const now = nowIso();
    const id = newId();

    const connectorValues: Record<string, unknown> = provisionAsCsv
      ? {
          ...delimitedFileConnector,
          features: [...delimitedFileConnector.features],
          connectorAttributes: {
            ...delimitedFileConnectorAttributes(),
            ...(isPlainObject(body.connectorAttributes) ? body.connectorAttributes : {}),
          },
        }
      : {
          type: typeof body.type === 'string' ? body.type : String(body.connector),
          connectorAttributes: isPlainObject(body.connectorAttributes)
            ? body.connectorAttributes
            : {},
        };
    const schemas = provisionAsCsv ? defaultDelimitedSchemas() : [];
    this.schemas.set(id, schemas);

    const source: SourceDto = {
      description: '',
      cluster: null,
      accountCorrelationConfig: null,
      accountCorrelationRule: null,
      managerCorrelationMapping: null,
      managerCorrelationRule: null,
      beforeProvisioningRule: null,
      passwordPolicies: null,
      features: [],
      deleteThreshold: 10,
      managementWorkgroup: null,
      healthy: true,
      status: 'SOURCE_STATE_HEALTHY',
      since: now,
      credentialProviderEnabled: false,
      category: null,
      ...body,
      ...connectorValues,
      id,
      name,
      owner,
      authoritative: false,
      schemas: schemas.map((schema) => ({
        type: 'CONNECTOR_SCHEMA',
        id: schema.id,
        name: schema.name,
      })),
      created: now,
      modified: now,
    } as unknown as SourceDto;
    this.sources.set(id, source);
    return source;
  }

  /** Replaces a source (PUT). The fields ISC treats as immutable must keep their values. */
  replaceSource(id: string, body: Record<string, unknown>): SourceDto {
    const existing = this.getSource(id);
    for (const field of immutableSourceFields) {
      if (field in body && !sameJson(body[field], existing[field])) {
        throw illegalUpdate(`The field "${field}" of a source cannot be changed.`);
      }
    }
    const name = String(body.name);
    this.#checkUniqueSourceName(name, id);
    const ownerId = isPlainObject(body.owner) ? String(body.owner.id ?? '') : '';
    const replaced: SourceDto = {
      ...body,
      id,
      name,
      owner: this.#identityReference(ownerId, 'owner'),
      type: existing.type,
      authoritative: existing.authoritative,
      connector: existing.connector,
      connectorClass: existing.connectorClass,
      passwordPolicies: existing.passwordPolicies,
      schemas: existing.schemas,
      created: existing.created,
      modified: nowIso(),
    };
    this.sources.set(id, replaced);
    return replaced;
  }

  #refreshAuthoritative(sourceId: string): void {
    const source = this.sources.get(sourceId);
    if (!source) return;
    const referenced = [...this.identityProfiles.values()].some(
      (profile) => profile.authoritativeSource.id === sourceId,
    );
    if (source.authoritative !== referenced) {
      source.authoritative = referenced;
      source.modified = nowIso();
    }
  }

  // ---- source schemas ---------------------------------------------------------------------------

  listSchemas(sourceId: string): SchemaDto[] {
    this.getSource(sourceId);
    return this.schemas.get(sourceId) ?? [];
  }

  getSchema(sourceId: string, schemaId: string): SchemaDto {
    const schema = this.listSchemas(sourceId).find((candidate) => candidate.id === schemaId);
    if (!schema) throw notFound('Schema', schemaId);
    return schema;
  }

  accountSchema(sourceId: string): SchemaDto | undefined {
    return this.schemas.get(sourceId)?.find((schema) => schema.name === 'account');
  }

  #storeSchema(sourceId: string, schema: SchemaDto): SchemaDto {
    const list = this.listSchemas(sourceId);
    const index = list.findIndex((candidate) => candidate.id === schema.id);
    list[index] = schema;
    return schema;
  }

  #checkSchemaImmutables(existing: SchemaDto, replacement: Record<string, unknown>): void {
    for (const field of immutableSchemaFields) {
      if (field in replacement && !sameJson(replacement[field], existing[field])) {
        throw illegalUpdate(`The field "${field}" of a schema cannot be changed.`);
      }
    }
  }

  /** Replaces a whole schema (PUT). The body must contain the unchanged `id`. */
  replaceSchema(sourceId: string, schemaId: string, body: Record<string, unknown>): SchemaDto {
    const existing = this.getSchema(sourceId, schemaId);
    if (body.id === undefined) throw badRequest('The field "id" is required in a schema update.');
    this.#checkSchemaImmutables(existing, body);
    const replaced: SchemaDto = {
      ...(body as Partial<SchemaDto>),
      id: existing.id,
      name: existing.name,
      attributes: Array.isArray(body.attributes)
        ? (body.attributes as SchemaDto['attributes'])
        : [],
      created: existing.created,
      modified: nowIso(),
    };
    return this.#storeSchema(sourceId, replaced);
  }

  patchSchema(sourceId: string, schemaId: string, operations: PatchOperation[]): SchemaDto {
    const existing = this.getSchema(sourceId, schemaId);
    for (const field of touchedTopLevelFields(operations)) {
      if ((immutableSchemaFields as readonly string[]).includes(field)) {
        throw illegalUpdate(`The field "${field}" of a schema cannot be changed.`);
      }
    }
    const patched = applyJsonPatch(existing, operations);
    patched.modified = nowIso();
    return this.#storeSchema(sourceId, patched);
  }

  // ---- tasks ------------------------------------------------------------------------------------

  /**
   * Records a pending task and runs `work` after the async delay. The task completes with SUCCESS,
   * with WARNING when `work` returns warning texts, or with ERROR and the message when it throws.
   */
  startTask(
    uniqueName: string,
    description: string,
    launcher: string,
    work: () => string[] | undefined,
  ): TaskStatusDto {
    const now = nowIso();
    const task: TaskStatusDto = {
      id: newId(),
      type: 'QUARTZ',
      uniqueName,
      description,
      parentName: null,
      launcher,
      target: null,
      created: now,
      modified: now,
      launched: now,
      completed: null,
      completionStatus: null,
      messages: [],
      returns: [],
      attributes: {},
      progress: null,
      percentComplete: 0,
    };
    this.tasks.set(task.id, task);
    this.#later(uniqueName, () => {
      try {
        const warnings = work() ?? [];
        for (const warning of warnings) {
          task.messages.push({
            type: 'WARN',
            localizedText: { locale: 'en-US', message: warning },
            key: 'warning',
            parameters: null,
          });
        }
        task.completionStatus = warnings.length > 0 ? 'WARNING' : 'SUCCESS';
      } catch (error) {
        task.completionStatus = 'ERROR';
        task.messages.push({
          type: 'ERROR',
          localizedText: { locale: 'en-US', message: (error as Error).message },
          key: 'error',
          parameters: null,
        });
      }
      task.completed = nowIso();
      task.modified = task.completed;
      task.percentComplete = 100;
    });
    return task;
  }

  getTask(id: string): TaskStatusDto {
    const task = this.tasks.get(id);
    if (!task) throw notFound('Task', id);
    return task;
  }

  // ---- accounts ---------------------------------------------------------------------------------

  getAccount(id: string): AccountRecord {
    const account = this.accounts.get(id);
    if (!account) throw notFound('Account', id);
    return account;
  }

  findByNativeIdentity(sourceId: string, nativeIdentity: string): AccountRecord | undefined {
    for (const account of this.accounts.values()) {
      if (account.sourceId === sourceId && account.nativeIdentity === nativeIdentity)
        return account;
    }
    return undefined;
  }

  /** Checks attribute names against the source's account schema and returns that schema. */
  #checkAccountAttributes(sourceId: string, attributes: Record<string, string>): SchemaDto {
    const schema = this.accountSchema(sourceId);
    if (!schema?.identityAttribute) {
      throw badRequest(`Source "${sourceId}" has no account schema with an identity attribute.`);
    }
    const declared = new Set(schema.attributes.map((attribute) => attribute.name));
    // NOTE: SailPoint's service-accounts guide has callers drop idNowDescription before
    // POST /accounts, so ISC is assumed to reject attributes outside the schema. The exact
    // response is not documented.
    for (const name of Object.keys(attributes)) {
      if (!declared.has(name)) {
        throw badRequest(
          `The attribute "${name}" is not in the account schema of source "${sourceId}".`,
        );
      }
    }
    return schema;
  }

  /**
   * Submits an account creation (POST /accounts) and returns the task. The account appears when
   * the task completes. An account with the same native identity on the source is updated instead,
   * as the spec describes for a body carrying an existing account's id.
   */
  submitAccountCreate(body: Record<string, string>, launcher: string): TaskStatusDto {
    const { sourceId, ...attributes } = body;
    if (!sourceId) throw badRequest('The attribute "sourceId" is required.');
    if (!this.sources.has(sourceId)) throw badRequest(`The source "${sourceId}" does not exist.`);
    const schema = this.#checkAccountAttributes(sourceId, attributes);
    const identityAttribute = schema.identityAttribute!;
    const nativeIdentity = attributes[identityAttribute];
    if (!nativeIdentity) {
      throw badRequest(`The account identity attribute "${identityAttribute}" is required.`);
    }

    const task = this.startTask(
      'Account Create',
      `Create account ${nativeIdentity}`,
      launcher,
      () => {
        const existing = this.findByNativeIdentity(sourceId, nativeIdentity);
        if (existing) {
          this.writeAccount(existing, { ...existing.attributes, ...attributes });
          return;
        }
        const now = nowIso();
        const account: AccountRecord = {
          id: newId(),
          sourceId,
          nativeIdentity,
          name: nativeIdentity,
          attributes: {},
          identityId: null,
          created: now,
          modified: now,
        };
        this.writeAccount(account, attributes);
        this.accounts.set(account.id, account);
      },
    );
    task.target = { id: sourceId, type: 'APPLICATION', name: this.getSource(sourceId).name };
    return task;
  }

  /** Sets an account's attributes and derives its name from the schema's displayAttribute. */
  writeAccount(account: AccountRecord, attributes: Record<string, string>): void {
    const schema = this.accountSchema(account.sourceId);
    const displayAttribute = schema?.displayAttribute;
    account.attributes = attributes;
    account.name = (displayAttribute && attributes[displayAttribute]) || account.nativeIdentity;
    account.modified = nowIso();
  }

  /** Submits a full replacement of an account's attributes (PUT /accounts/{id}). */
  submitAccountUpdate(id: string, attributes: Record<string, unknown>, launcher: string) {
    const account = this.getAccount(id);
    const source = this.getSource(account.sourceId);
    if (source.type !== delimitedFileConnector.type) {
      throw badRequest(
        'Only accounts of flat file (DelimitedFile) sources can be updated with PUT.',
      );
    }
    const values: Record<string, string> = {};
    for (const [name, value] of Object.entries(attributes)) {
      if (name === 'sourceId' || name === 'idNowDescription') continue;
      if (typeof value !== 'string') {
        throw badRequest(`The attribute "${name}" must be a string.`);
      }
      values[name] = value;
    }
    const schema = this.#checkAccountAttributes(account.sourceId, values);
    const identityAttribute = schema.identityAttribute!;
    const nativeIdentity = values[identityAttribute] ?? account.nativeIdentity;
    if (nativeIdentity !== account.nativeIdentity) {
      throw illegalUpdate(
        `The account identity attribute "${identityAttribute}" cannot be changed.`,
      );
    }
    values[identityAttribute] = nativeIdentity;
    return this.startTask('Account Update', `Update account ${nativeIdentity}`, launcher, () => {
      const current = this.accounts.get(id);
      if (!current) throw new Error(`account ${id} was deleted before the update ran`);
      this.writeAccount(current, values);
    });
  }

  /** Submits the removal of an account from ISC (DELETE /accounts/{id}). */
  submitAccountDelete(id: string, launcher: string): TaskStatusDto {
    const account = this.getAccount(id);
    const source = this.getSource(account.sourceId);
    if (source.type !== delimitedFileConnector.type) {
      throw badRequest('Only accounts of DelimitedFile sources can be deleted.');
    }
    // NOTE: ISC may also remove an identity whose authoritative account is gone, but the
    // emulator keeps the identity and marks it uncorrelated.
    return this.startTask(
      'Account Delete',
      `Delete account ${account.nativeIdentity}`,
      launcher,
      () => {
        this.removeAccount(account);
      },
    );
  }

  /** Removes an account and marks its identity uncorrelated when no other account is left. */
  removeAccount(account: AccountRecord): void {
    this.accounts.delete(account.id);
    if (!account.identityId) return;
    const stillCorrelated = [...this.accounts.values()].some(
      (other) => other.identityId === account.identityId,
    );
    const record = this.identities.get(account.identityId);
    if (record && !stillCorrelated) record.correlated = false;
  }

  // ---- identity profiles ------------------------------------------------------------------------

  getIdentityProfile(id: string): IdentityProfileDto {
    const profile = this.identityProfiles.get(id);
    if (!profile) throw notFound('Identity profile', id);
    return profile;
  }

  identityCount(profileId: string): number {
    let count = 0;
    for (const record of this.identities.values()) {
      if (record.identityProfileId === profileId) count++;
    }
    return count;
  }

  #authoritativeSourceReference(body: Record<string, unknown>): Reference<'SOURCE'> {
    const reference = body.authoritativeSource;
    const sourceId = isPlainObject(reference) ? String(reference.id ?? '') : '';
    const source = this.sources.get(sourceId);
    if (!source) throw badRequest(`The authoritative source "${sourceId}" does not exist.`);
    return { type: 'SOURCE', id: source.id, name: source.name };
  }

  /** Creates an identity profile and makes its source authoritative. */
  createIdentityProfile(body: Record<string, unknown>): IdentityProfileDto {
    if (typeof body.name !== 'string' || body.name === '') {
      throw badRequest('The field "name" is required.');
    }
    for (const profile of this.identityProfiles.values()) {
      if (profile.name.toLowerCase() === body.name.toLowerCase()) {
        throw badRequest(`An identity profile named "${body.name}" already exists.`);
      }
    }
    const authoritativeSource = this.#authoritativeSourceReference(body);
    const owner = isPlainObject(body.owner)
      ? this.#identityReference(String(body.owner.id ?? ''), 'owner')
      : null;
    const now = nowIso();
    const profile: IdentityProfileDto = {
      description: null,
      priority: 10 * (this.identityProfiles.size + 1),
      identityAttributeConfig: { enabled: true, attributeTransforms: [] },
      identityExceptionReportReference: null,
      hasTimeBasedAttr: false,
      ...body,
      id: newUuid(),
      name: body.name,
      owner,
      authoritativeSource,
      // A new profile has not been applied to any identity yet, like after saving it in the UI.
      identityRefreshRequired: true,
      created: now,
      modified: now,
    };
    delete profile.identityCount;
    this.identityProfiles.set(profile.id, profile);
    this.#refreshAuthoritative(authoritativeSource.id);
    return profile;
  }

  /**
   * Applies a JSON Patch to a profile. Read-only fields are rejected, as is changing the source and
   * the attribute config in one request. A changed attribute config requires an identity refresh.
   */
  patchIdentityProfile(id: string, operations: PatchOperation[]): IdentityProfileDto {
    const existing = this.getIdentityProfile(id);
    const touched = touchedTopLevelFields(operations);
    for (const field of immutableProfileFields) {
      if (touched.has(field)) {
        throw illegalUpdate(`The field "${field}" of an identity profile cannot be changed.`);
      }
    }
    if (touched.has('authoritativeSource') && touched.has('identityAttributeConfig')) {
      throw badRequest(
        'authoritativeSource and identityAttributeConfig cannot be changed in the same request.',
      );
    }
    const patched = applyJsonPatch(existing, operations);
    patched.authoritativeSource = this.#authoritativeSourceReference(patched);
    if (!sameJson(patched.identityAttributeConfig, existing.identityAttributeConfig)) {
      patched.identityRefreshRequired = true;
    }
    patched.modified = nowIso();
    this.identityProfiles.set(id, patched);
    this.#refreshAuthoritative(existing.authoritativeSource.id);
    this.#refreshAuthoritative(patched.authoritativeSource.id);
    return patched;
  }

  /** Submits the deletion of a profile; its identities stay, without a profile. */
  submitIdentityProfileDelete(id: string, launcher: string): TaskStatusDto {
    const profile = this.getIdentityProfile(id);
    return this.startTask('Identity Profile Delete', `Delete ${profile.name}`, launcher, () => {
      this.identityProfiles.delete(id);
      for (const record of this.identities.values()) {
        if (record.identityProfileId === id) record.identityProfileId = null;
      }
      this.#refreshAuthoritative(profile.authoritativeSource.id);
    });
  }

  // ---- views ------------------------------------------------------------------------------------

  /** Renders an account as the v2025 Account schema describes it. */
  accountDto(account: AccountRecord): Record<string, unknown> {
    const source = this.sources.get(account.sourceId);
    const identity = account.identityId ? this.identities.get(account.identityId) : undefined;
    const dto: Record<string, unknown> = {
      id: account.id,
      name: account.name,
      created: account.created,
      modified: account.modified,
      sourceId: account.sourceId,
      sourceName: source?.name ?? null,
      cloudLifecycleState: null,
      identityState: null,
      connectionType: source?.connectionType ?? null,
      isMachine: false,
      recommendation: null,
      attributes: { ...account.attributes, idNowDescription: descriptionHash(account.attributes) },
      authoritative: source?.authoritative ?? false,
      disabled: false,
      locked: false,
      nativeIdentity: account.nativeIdentity,
      systemAccount: false,
      uncorrelated: identity === undefined,
      uuid: null,
      manuallyCorrelated: false,
      hasEntitlements: false,
      sourceOwner: source ? { ...source.owner } : null,
      features: null,
      origin: null,
      ownerIdentity: null,
    };
    if (identity) {
      dto.identityId = identity.identity.id;
      dto.identity = { id: identity.identity.id, type: 'IDENTITY', name: identity.identity.name };
    }
    return dto;
  }

  identityProfileDto(profile: IdentityProfileDto): Record<string, unknown> {
    return { ...structuredClone(profile), identityCount: this.identityCount(profile.id) };
  }

  /** Returns a JSON copy of everything stored, for the emulator's admin endpoint. */
  snapshot(): Record<string, unknown> {
    return structuredClone({
      sources: [...this.sources.values()],
      schemas: Object.fromEntries(this.schemas),
      accounts: [...this.accounts.values()],
      identityProfiles: [...this.identityProfiles.values()],
      identities: [...this.identities.values()],
      tasks: [...this.tasks.values()],
      // Secrets stay out of the snapshot, which the unauthenticated admin endpoint serves.
      personalAccessTokens: [...this.personalAccessTokens.values()].map(
        ({ secret: _secret, ...token }) => token,
      ),
    });
  }
}

/**
 * Returns a stand-in for `idNowDescription`, a hash that ISC adds to the attributes of aggregated
 * accounts. It hashes the sorted attributes, so the value changes when they change.
 */
function descriptionHash(attributes: Record<string, string>): string {
  const sorted = Object.keys(attributes)
    .sort()
    .map((name) => [name, attributes[name]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}
