// Values ISC fills in for a new Delimited File source created with `provisionAsCsv=true`.
//
// The connector values are those of the delimited-file source that SailPoint's PATCH request guide
// shows (developer.sailpoint.com/docs/api/patch-requests). The account attributes are the header
// of the example flat-file template in the v2025 spec (GET /sources/{id}/schemas/accounts).

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
    mergeRows: true,
    mergeColumns: ['groups'],
    filterEmptyRecords: true,
    partitionMode: 'disabled',
    connectionType: 'file',
    host: 'local',
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

const defaultGroupAttributeNames = [
  'id',
  'name',
  'displayName',
  'created',
  'description',
  'modified',
  'entitlements',
  'groups',
  'permissions',
] as const;

export function stringAttribute(name: string): AttributeDefinition {
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
  // The group attributes are the group.columnNames of the same example source. NOTE: their types
  // are not shown there, so STRING is assumed.
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
    attributes: defaultGroupAttributeNames.map(stringAttribute),
    created,
    modified: null,
  };
  return [account, group];
}
