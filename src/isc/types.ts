/** The subset of ISC's v2025 objects that the operator reads and writes. */

export interface Reference {
  type: string;
  id: string;
  name?: string;
}

export interface Source {
  id: string;
  name: string;
  type?: string;
  connector?: string;
  authoritative?: boolean;
  owner?: Reference;
}

export interface SchemaAttribute {
  name: string;
  type: 'STRING' | 'LONG' | 'INT' | 'BOOLEAN' | 'DATE';
  description?: string | null;
  isMulti?: boolean;
  isEntitlement?: boolean;
  isGroup?: boolean;
  [field: string]: unknown;
}

export interface SourceSchema {
  id: string;
  name: string;
  nativeObjectType?: string;
  identityAttribute?: string;
  displayAttribute?: string;
  attributes: SchemaAttribute[];
  [field: string]: unknown;
}

export interface Account {
  id: string;
  name: string;
  nativeIdentity: string;
  sourceId: string;
  identityId?: string | null;
  uncorrelated?: boolean;
  attributes: Record<string, unknown> | null;
}

export interface AttributeTransform {
  identityAttributeName: string;
  transformDefinition: {
    type: string;
    attributes: Record<string, unknown>;
  };
}

export interface IdentityProfile {
  id: string;
  name: string;
  authoritativeSource: Reference;
  identityRefreshRequired?: boolean;
  identityAttributeConfig?: {
    enabled?: boolean;
    attributeTransforms?: AttributeTransform[];
  };
}

export interface Identity {
  id: string;
  name: string;
  alias?: string;
  emailAddress?: string | null;
  identityStatus?: string;
  attributes?: Record<string, unknown>;
}

/** Asynchronous work ISC accepted with 202. */
export interface AsyncResult {
  id?: string;
}

/** The fields of ISC's TaskStatus that tell whether asynchronous work finished. */
export interface TaskStatus {
  id: string;
  completed?: string | null;
  completionStatus?: 'SUCCESS' | 'WARNING' | 'ERROR' | 'TERMINATED' | 'TEMPERROR' | null;
  messages?: Array<{ type?: string; key?: string; localizedText?: { message?: string } | null }>;
  /** Task results, e.g. the counts of a load-accounts task (`created`, `deleted`, ...). */
  attributes?: Record<string, unknown> | null;
  /** The result attributes the task declares, each naming its key in `attributes`. */
  returns?: Array<{ name?: string; displayLabel?: string; attributeName?: string }> | null;
}

/** A personal access token as ISC lists it: metadata only, the secret is never listed. */
export interface PersonalAccessToken {
  id: string;
  name: string;
  scope?: string[] | null;
  owner?: Reference;
  created?: string;
  lastUsed?: string | null;
  accessTokenValiditySeconds?: number;
  /** Null when the token never expires. */
  expirationDate?: string | null;
}
