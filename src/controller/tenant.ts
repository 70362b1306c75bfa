import type { Logger } from 'pino';
import type { IscApi, JsonPatchOperation } from '../isc/api.ts';
import { eq } from '../isc/filters.ts';
import type {
  AttributeTransform,
  IdentityProfile,
  SchemaAttribute,
  Source,
  SourceSchema,
} from '../isc/types.ts';

export interface TenantSettings {
  sourceName: string;
  identityProfileName: string;
  /** Identity that owns the source and profile; defaults to the credential's own identity. */
  ownerIdentityId?: string;
  /** How long the verified source and profile are trusted before they are read again. */
  cacheTtlMs: number;
  /** Minimum time between two process-identities calls on the profile. */
  identityProcessingIntervalMs: number;
}

export interface TenantObjects {
  source: Source;
  accountSchema: SourceSchema;
  identityProfile: IdentityProfile;
}

/** The account schema the service-account source must have, in CSV column order. */
export const requiredAccountAttributes: readonly string[] = ['id', 'name', 'e-mail', 'purpose'];

/**
 * Attributes of the template ISC gives a new delimited-file source. They are dropped from the
 * schema only while the source contains no accounts, so no account data is ever removed.
 */
export const delimitedFileTemplateAttributes: ReadonlySet<string> = new Set([
  'givenName',
  'familyName',
  'location',
  'manager',
  'groups',
  'startDate',
  'endDate',
]);

/** Identity attribute <- account attribute, as the manual procedure maps them. */
export const requiredMappings: ReadonlyArray<{
  identityAttribute: string;
  accountAttribute: string;
}> = [
  { identityAttribute: 'uid', accountAttribute: 'name' },
  { identityAttribute: 'email', accountAttribute: 'e-mail' },
  { identityAttribute: 'lastname', accountAttribute: 'name' },
  { identityAttribute: 'firstname', accountAttribute: 'name' },
];

/** Findings of the credential check that runs before any change. */
export interface PreflightResult {
  credentialIdentityId: string | undefined;
  capabilities: string[];
  /** Each missing user level or scope, as a sentence that states what to grant. */
  problems: string[];
}

/**
 * Scopes the operator's calls need. A token needs one scope listed on an endpoint; these are
 * the manage scopes, which ISC lists on both the read and the write endpoints the operator calls.
 */
export const requiredScopes: readonly string[] = [
  'idn:sources:manage',
  'idn:source-schema:manage',
  'idn:accounts:manage',
  'idn:identity-profile:manage',
  'idn:identity:read',
  'idn:task-management:read',
  'sp:auth-user:read',
];

/** A tenant whose source or profile exists in a form the operator must not change. */
export class TenantConfigurationError extends Error {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.name = 'TenantConfigurationError';
    this.reason = reason;
  }
}

/**
 * Ensures the tenant-wide objects every service account needs: the delimited-file source with
 * its account schema, and the authoritative identity profile with its mappings. The result is
 * cached, and concurrent reconciles share one check, so steady state costs no ISC calls here.
 */
export class TenantSetup {
  private readonly api: IscApi;
  private readonly settings: TenantSettings;
  private readonly logger: Logger;
  private cached: { objects: TenantObjects; at: number } | undefined;
  private pending: Promise<TenantObjects> | undefined;
  private lastIdentityProcessing = 0;

  /** Told of every change made to the source, schema or profile, e.g. to record an Event. */
  onChange: ((reason: string, message: string) => void) | undefined;

  constructor(api: IscApi, settings: TenantSettings, logger: Logger) {
    this.api = api;
    this.settings = settings;
    this.logger = logger;
  }

  async ensure(): Promise<TenantObjects> {
    if (this.cached && Date.now() - this.cached.at < this.settings.cacheTtlMs) {
      return this.cached.objects;
    }
    this.pending ??= this.verify().finally(() => {
      this.pending = undefined;
    });
    const objects = await this.pending;
    this.cached = { objects, at: Date.now() };
    return objects;
  }

  /**
   * Checks the credential: it must belong to an identity (a personal access token, not an API
   * client), that identity needs the ORG_ADMIN user level (ISC lists only ORG_ADMIN for identity
   * profile changes), and the token needs the scopes in `requiredScopes` unless it has
   * `sp:scopes:all`. Authentication failures throw; missing rights are returned as problems.
   */
  async preflight(): Promise<PreflightResult> {
    const owner = await this.api.client.tokenOwner();
    const problems: string[] = [];
    let capabilities: string[] = [];
    if (!owner.identityId) {
      problems.push(
        'the credential has no identity: it is an API client, not a personal access token; ' +
          'create a PAT for an identity with the ORG_ADMIN user level',
      );
    } else {
      capabilities = (await this.api.getAuthUserCapabilities(owner.identityId)) ?? [];
      if (!capabilities.includes('ORG_ADMIN')) {
        problems.push(
          `the credential's identity ${owner.identityId} has user levels ` +
            `[${capabilities.join(', ')}]; managing identity profiles needs ORG_ADMIN`,
        );
      }
    }
    if (!owner.scopes.includes('sp:scopes:all')) {
      const missing = requiredScopes.filter((scope) => !owner.scopes.includes(scope));
      if (missing.length > 0) {
        problems.push(`the credential's token lacks the scopes ${missing.join(', ')}`);
      }
    }
    return { credentialIdentityId: owner.identityId, capabilities, problems };
  }

  /**
   * Finds the source and its account schema without creating or changing anything, for
   * resources under the ObserveOnly policy. Throws TenantConfigurationError when they are absent.
   */
  async observe(): Promise<Pick<TenantObjects, 'source' | 'accountSchema'>> {
    if (this.cached && Date.now() - this.cached.at < this.settings.cacheTtlMs) {
      return this.cached.objects;
    }
    const source = await this.api.findSourceByName(this.settings.sourceName);
    if (!source) {
      throw new TenantConfigurationError(
        'SourceNotFound',
        `source "${this.settings.sourceName}" does not exist, and ObserveOnly resources do ` +
          'not create it',
      );
    }
    const accountSchema = await this.api.getAccountSchema(source.id);
    if (!accountSchema) {
      throw new TenantConfigurationError(
        'SchemaMismatch',
        `source "${source.name}" (${source.id}) has no account schema`,
      );
    }
    return { source, accountSchema };
  }

  /** Forgets the cached objects, e.g. after ISC returned 404 for one of them. */
  invalidate(): void {
    this.cached = undefined;
  }

  /**
   * Starts process-identities on the profile unless one started within the configured interval,
   * so a batch of new accounts costs one call.
   */
  async requestIdentityProcessing(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastIdentityProcessing < this.settings.identityProcessingIntervalMs)
      return false;
    this.lastIdentityProcessing = now;

    const { identityProfile } = await this.ensure();
    await this.api.processIdentityProfile(identityProfile.id);
    this.logger.info({ identityProfileId: identityProfile.id }, 'started identity processing');
    return true;
  }

  /** Records a process-identities call made elsewhere (a csv upload), so it counts for the interval. */
  noteIdentityProcessing(): void {
    this.lastIdentityProcessing = Date.now();
  }

  private async verify(): Promise<TenantObjects> {
    const source = await this.ensureSource();
    const accountSchema = await this.ensureAccountSchema(source);
    const identityProfile = await this.ensureIdentityProfile(source);
    return { source, accountSchema, identityProfile };
  }

  private async ensureSource(): Promise<Source> {
    const existing = await this.api.findSourceByName(this.settings.sourceName);
    if (existing) {
      if (existing.type !== undefined && existing.type !== 'DelimitedFile') {
        throw new TenantConfigurationError(
          'SourceTypeMismatch',
          `source "${existing.name}" (${existing.id}) is of type ${existing.type}, not ` +
            'DelimitedFile; rename it or configure another source name',
        );
      }
      return existing;
    }

    const owner = await this.owner();
    const source = await this.api.createDelimitedFileSource({
      name: this.settings.sourceName,
      description: 'Service accounts managed by isc-sa-operator from Kubernetes resources',
      owner,
    });
    this.logger.info({ sourceId: source.id, sourceName: source.name }, 'created source');
    this.onChange?.(
      'CreatedSource',
      `created delimited-file source "${source.name}" (${source.id})`,
    );
    return source;
  }

  private async ensureAccountSchema(source: Source): Promise<SourceSchema> {
    const schema = await this.api.getAccountSchema(source.id);
    if (!schema) {
      throw new TenantConfigurationError(
        'SchemaMismatch',
        `source "${source.name}" (${source.id}) has no account schema`,
      );
    }

    const desired = await this.desiredSchema(source, schema);
    if (desired === undefined) return schema;

    const updated = await this.api.replaceSchema(source.id, desired);
    this.logger.info(
      { sourceId: source.id, attributes: updated.attributes.map((a) => a.name) },
      'updated account schema',
    );
    this.onChange?.(
      'UpdatedAccountSchema',
      `set the account schema of source "${source.name}" to ` +
        updated.attributes.map((attribute) => attribute.name).join(', '),
    );
    return updated;
  }

  /** Returns the schema to write, or undefined when the current one already fits. */
  private async desiredSchema(
    source: Source,
    schema: SourceSchema,
  ): Promise<SourceSchema | undefined> {
    const names = new Set(schema.attributes.map((attribute) => attribute.name));
    const missing = requiredAccountAttributes.filter((name) => !names.has(name));
    const templateLeftovers = schema.attributes.filter((a) =>
      delimitedFileTemplateAttributes.has(a.name),
    );
    const keysRight = schema.identityAttribute === 'id' && schema.displayAttribute === 'name';
    if (missing.length === 0 && templateLeftovers.length === 0 && keysRight) return undefined;

    let attributes: SchemaAttribute[] = [...schema.attributes];
    if (templateLeftovers.length > 0 && !(await this.sourceHasAccounts(source))) {
      attributes = attributes.filter((a) => !delimitedFileTemplateAttributes.has(a.name));
    }
    for (const name of missing) {
      attributes.push({
        name,
        type: 'STRING',
        description: `Service account column ${name}`,
        isMulti: false,
        isEntitlement: false,
        isGroup: false,
      });
    }
    // Required attributes first, in CSV column order; any others keep their order after them.
    const rank = (name: string) => {
      const index = requiredAccountAttributes.indexOf(name);
      return index === -1 ? requiredAccountAttributes.length : index;
    };
    attributes.sort((a, b) => rank(a.name) - rank(b.name));

    const unchanged =
      keysRight &&
      attributes.length === schema.attributes.length &&
      attributes.every((a, i) => a.name === schema.attributes[i]?.name);
    if (unchanged) return undefined;
    return { ...schema, identityAttribute: 'id', displayAttribute: 'name', attributes };
  }

  private async sourceHasAccounts(source: Source): Promise<boolean> {
    for await (const _account of this.api.list('accounts', '', {
      filters: eq('sourceId', source.id),
      sorters: 'id',
    })) {
      return true;
    }
    return false;
  }

  private async ensureIdentityProfile(source: Source): Promise<IdentityProfile> {
    const desiredTransforms = requiredMappings.map((mapping) =>
      accountAttributeTransform(mapping.identityAttribute, mapping.accountAttribute, source),
    );
    const existing = await this.api.findIdentityProfileByName(this.settings.identityProfileName);

    if (!existing) {
      const profile = await this.api.createIdentityProfile({
        name: this.settings.identityProfileName,
        authoritativeSource: { type: 'SOURCE', id: source.id, name: source.name },
        identityAttributeConfig: { enabled: true, attributeTransforms: desiredTransforms },
      });
      this.logger.info({ identityProfileId: profile.id }, 'created identity profile');
      this.onChange?.(
        'CreatedIdentityProfile',
        `created identity profile "${profile.name}" (${profile.id}) with the four mappings`,
      );
      return profile;
    }

    if (existing.authoritativeSource.id !== source.id) {
      throw new TenantConfigurationError(
        'ProfileSourceMismatch',
        `identity profile "${existing.name}" (${existing.id}) is authoritative for source ` +
          `${existing.authoritativeSource.id}, not "${source.name}" (${source.id})`,
      );
    }

    const patch = mappingPatch(existing, desiredTransforms);
    if (patch.length === 0) return existing;
    const updated = await this.api.patchIdentityProfile(existing.id, patch);
    this.logger.info({ identityProfileId: existing.id }, 'restored identity profile mappings');
    this.onChange?.(
      'RestoredMappings',
      `restored the mappings of identity profile "${existing.name}" (${existing.id})`,
    );
    return updated;
  }

  private async owner(): Promise<{ type: 'IDENTITY'; id: string; name: string }> {
    const id = this.settings.ownerIdentityId ?? (await this.api.client.tokenOwner()).identityId;
    if (!id) {
      throw new TenantConfigurationError(
        'OwnerUnknown',
        'the ISC credential has no identity (an API client, not a personal access token); ' +
          'use a personal access token or set the owner identity id',
      );
    }
    const name = await this.api.getIdentityName(id);
    if (!name) {
      throw new TenantConfigurationError('OwnerUnknown', `owner identity ${id} was not found`);
    }
    return { type: 'IDENTITY', id, name };
  }
}

function accountAttributeTransform(
  identityAttributeName: string,
  attributeName: string,
  source: Source,
): AttributeTransform {
  return {
    identityAttributeName,
    transformDefinition: {
      type: 'accountAttribute',
      attributes: { sourceName: source.name, attributeName, sourceId: source.id },
    },
  };
}

/** Builds a patch that sets the required mappings and keeps every other mapping as it is. */
function mappingPatch(
  profile: IdentityProfile,
  desired: readonly AttributeTransform[],
): JsonPatchOperation[] {
  const current = profile.identityAttributeConfig?.attributeTransforms ?? [];
  const desiredNames = new Set(desired.map((t) => t.identityAttributeName));
  const matches = desired.every((want) =>
    current.some(
      (have) =>
        have.identityAttributeName === want.identityAttributeName &&
        have.transformDefinition?.type === 'accountAttribute' &&
        have.transformDefinition.attributes?.attributeName ===
          want.transformDefinition.attributes.attributeName &&
        have.transformDefinition.attributes?.sourceId ===
          want.transformDefinition.attributes.sourceId,
    ),
  );
  if (matches && profile.identityAttributeConfig?.enabled !== false) return [];

  const kept = current.filter((t) => !desiredNames.has(t.identityAttributeName));
  return [
    {
      op: 'replace',
      path: '/identityAttributeConfig',
      value: { enabled: true, attributeTransforms: [...kept, ...desired] },
    },
  ];
}
