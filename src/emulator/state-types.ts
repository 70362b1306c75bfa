// Shapes of the objects the emulator stores and returns. Field names follow the v2025 schemas
// Source, Schema, Account, IdentityProfile, Identity and TaskStatus. Only the fields the emulator
// reads are typed, and the others pass through as stored.

export interface Reference<Type extends string = string> {
  type: Type;
  id: string;
  name: string;
}

export interface AttributeDefinition {
  name: string;
  nativeName?: string | null;
  type?: 'STRING' | 'LONG' | 'INT' | 'BOOLEAN' | 'DATE';
  schema?: Reference | null;
  isMulti?: boolean;
  isEntitlement?: boolean;
  isGroup?: boolean;
  description?: string;
}

export interface SchemaDto {
  id: string;
  name: string;
  nativeObjectType?: string;
  identityAttribute?: string;
  displayAttribute?: string;
  hierarchyAttribute?: string | null;
  includePermissions?: boolean;
  features?: string[];
  configuration?: Record<string, unknown>;
  attributes: AttributeDefinition[];
  created?: string;
  modified?: string | null;
  [key: string]: unknown;
}

export interface SourceDto {
  id: string;
  name: string;
  owner: Reference<'IDENTITY'>;
  type: string;
  connector: string;
  authoritative: boolean;
  schemas: Reference<'CONNECTOR_SCHEMA'>[];
  created: string;
  modified: string;
  [key: string]: unknown;
}

/** Account as stored, from which the Account DTO is derived when read. */
export interface AccountRecord {
  id: string;
  sourceId: string;
  nativeIdentity: string;
  name: string;
  attributes: Record<string, string>;
  identityId: string | null;
  created: string;
  modified: string;
  /**
   * Digest of the CSV row that the last aggregation wrote to this account, or absent when no
   * aggregation wrote it. Optimized aggregation skips a row with the same digest.
   */
  aggregatedDigest?: string;
}

export interface AttributeTransform {
  identityAttributeName?: string;
  transformDefinition?: { type?: string; attributes?: Record<string, unknown> };
}

export interface IdentityProfileDto {
  id: string;
  name: string;
  created: string;
  modified: string;
  authoritativeSource: Reference<'SOURCE'>;
  identityRefreshRequired: boolean;
  identityAttributeConfig?: { enabled?: boolean; attributeTransforms?: AttributeTransform[] };
  [key: string]: unknown;
}

export interface IdentityDto {
  id: string;
  name: string;
  created: string;
  modified: string;
  alias: string;
  emailAddress: string | null;
  processingState: 'ERROR' | 'OK' | null;
  identityStatus: string;
  managerRef: Reference<'IDENTITY'> | null;
  isManager: boolean;
  lastRefresh: string;
  attributes: Record<string, unknown>;
  lifecycleState: { stateName: string; manuallyUpdated: boolean } | null;
}

/** An identity as stored, with what the filters need but the DTO does not contain. */
export interface IdentityRecord {
  identity: IdentityDto;
  /** Whether an account correlates to it. `defaultFilter=CORRELATED_ONLY` hides the others. */
  correlated: boolean;
  identityProfileId: string | null;
  /** User level capabilities, as GET /auth-users/{id} returns them; empty is the basic user. */
  capabilities: string[];
  /** Time of the last invitation mail, or null when none was sent. */
  invitedAt: string | null;
  /** Invitation mails sent so far, for tests that check each went out once; absent means none. */
  invitationsSent?: number;
}

export type CompletionStatus = 'SUCCESS' | 'WARNING' | 'ERROR' | 'TERMINATED' | 'TEMPERROR';

export interface TaskStatusDto {
  id: string;
  type: 'QUARTZ' | 'QPOC' | 'QUEUED_TASK';
  uniqueName: string;
  description: string;
  parentName: string | null;
  launcher: string;
  target: { id: string; type: 'APPLICATION' | 'IDENTITY' | null; name: string } | null;
  created: string;
  modified: string | null;
  launched: string | null;
  completed: string | null;
  completionStatus: CompletionStatus | null;
  messages: Array<{
    type: 'INFO' | 'WARN' | 'ERROR';
    localizedText: { locale: string; message: string };
    key: string;
    parameters: unknown[] | null;
  }>;
  returns: Array<{ name: string; attributeName: string }>;
  attributes: Record<string, unknown>;
  progress: string | null;
  percentComplete: number;
}

/** A personal access token; its id is the OAuth client id and its secret the client secret. */
export interface PersonalAccessTokenRecord {
  id: string;
  secret: string;
  name: string;
  /** Scopes as stored and listed; null stands for `sp:scopes:all`. */
  scope: string[] | null;
  /** Scopes new access tokens carry until `scopeEffectiveAt`, after a PATCH changed `scope`. */
  previousScope?: string[] | null;
  /** Tenant time in epoch milliseconds from which new access tokens carry `scope`. */
  scopeEffectiveAt?: number;
  ownerId: string;
  created: string;
  lastUsed: string | null;
  accessTokenValiditySeconds: number;
  expirationDate: string | null;
  userAwareTokenNeverExpires: boolean;
}
