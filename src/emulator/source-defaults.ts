// Values ISC fills in for a new Delimited File source created with `provisionAsCsv=true`.
//
// The connector values are those of a real delimited-file source as SailPoint's PATCH guide shows it
// (developer.sailpoint.com, docs/api/patch-requests.md). The account attributes are the header of
// the example flat-file template in the v2025 spec (GET /sources/{id}/schemas/accounts).

import { newId, nowIso } from './ids.ts';
import type { AttributeDefinition, SchemaDto } from './state-types.ts';

export const delimitedFileConnector = {
  type: 'DelimitedFile',
  connector: 'delimited-file-angularsc',
  connectorClass: 'sailpoint.connector.DelimitedFileConnector',
  connectorId: 'delimited-file',
  connectorImplementationId: 'delimited-file',
  connectorName: 'Delimited File',
  connectionType: 'file',
  features: ['NO_RANDOM_ACCESS', 'DISCOVER_SCHEMA', 'DIRECT_PERMISSIONS'],
} as const;

export function delimitedFileConnectorAttributes(): Record<string, unknown> {
  return {
    delimiter: ',',
    hasHeader: true,
    indexColumn: 'id',
    mergeRows: false,
    filetransport: 'local',
    deltaAggregation: null,
    deleteThresholdPercentage: 10,
    templateApplication: 'DelimitedFile Template',
  };
}

export const defaultAccountAttributeNames = [
  'id',
  'name',
  'givenName',
  'familyName',
  'e-mail',
  'location',
  'manager',
  'groups',
  'startDate',
  'endDate',
] as const;

function stringAttribute(name: string): AttributeDefinition {
  return {
    name,
    nativeName: name,
    type: 'STRING',
    schema: null,
    isMulti: false,
    isEntitlement: false,
    isGroup: false,
  };
}

/** Returns the `account` and `group` schemas a new delimited-file source starts with. */
export function defaultDelimitedSchemas(): SchemaDto[] {
  const created = nowIso();
  const account: SchemaDto = {
    id: newId(),
    name: 'account',
    nativeObjectType: 'account',
    identityAttribute: 'id',
    displayAttribute: 'name',
    hierarchyAttribute: null,
    includePermissions: false,
    features: [],
    configuration: {},
    attributes: defaultAccountAttributeNames.map(stringAttribute),
    created,
    modified: null,
  };
  // NOTE: the group schema's attributes are not documented for delimited-file sources; an id and
  // a name attribute are an assumption.
  const group: SchemaDto = {
    id: newId(),
    name: 'group',
    nativeObjectType: 'group',
    identityAttribute: 'id',
    displayAttribute: 'name',
    hierarchyAttribute: null,
    includePermissions: false,
    features: [],
    configuration: {},
    attributes: [stringAttribute('id'), stringAttribute('name')],
    created,
    modified: null,
  };
  return [account, group];
}
