// Sources and their schemas: /sources, /sources/{id}, /sources/{sourceId}/schemas[/{schemaId}].

import { accountSchemaCsv, submitLoadAccounts } from '../aggregation.ts';
import { listCollection } from '../collection.ts';
import { badRequest } from '../errors.ts';
import type { PatchOperation } from '../json-patch.ts';
import type { Route } from '../route.ts';
import type { SourceDto } from '../state-types.ts';

// Filters the emulator evaluates. The spec lists more for GET /sources (for example created,
// connectorName, status), which the emulator rejects as unsupported (400).
const sourceFilterSupport = {
  id: ['eq', 'in'],
  name: ['eq', 'co', 'sw', 'in', 'ne'],
  type: ['eq', 'in'],
  'owner.id': ['eq', 'in'],
  authoritative: ['eq'],
} as const;

const sourceSorters = {
  id: (source: SourceDto) => source.id,
  name: (source: SourceDto) => source.name,
  type: (source: SourceDto) => source.type,
  created: (source: SourceDto) => source.created,
  modified: (source: SourceDto) => source.modified,
};

export const sourceRoutes: Route[] = [
  {
    method: 'GET',
    template: '/sources',
    operationId: 'listSources',
    requiresToken: true,
    handle: ({ state, query, listing }) =>
      listCollection(
        state.sources.values(),
        query,
        {
          filterSupport: sourceFilterSupport,
          sorters: sourceSorters,
          created: (source) => source.created,
        },
        listing,
      ),
  },
  {
    method: 'POST',
    template: '/sources',
    operationId: 'createSource',
    requiresToken: true,
    handle: ({ state, query, body }) => {
      const provisionAsCsv = query.get('provisionAsCsv') === 'true';
      const source = state.createSource(body as Record<string, unknown>, provisionAsCsv);
      return { status: 201, body: source };
    },
  },
  {
    method: 'GET',
    template: '/sources/{id}',
    operationId: 'getSource',
    requiresToken: true,
    handle: ({ state, params }) => ({ status: 200, body: state.getSource(params.id!) }),
  },
  {
    method: 'PUT',
    template: '/sources/{id}',
    operationId: 'putSource',
    requiresToken: true,
    handle: ({ state, params, body }) => ({
      status: 200,
      body: state.replaceSource(params.id!, body as Record<string, unknown>),
    }),
  },
  // These two literal paths come before /sources/{sourceId}/schemas/{schemaId}, which would
  // otherwise take "accounts" as a schema id.
  {
    method: 'GET',
    template: '/sources/{id}/schemas/accounts',
    operationId: 'getAccountsSchema',
    requiresToken: true,
    handle: ({ state, params }) => ({
      status: 200,
      body: `${accountSchemaCsv(state, params.id!)}\n`,
      contentType: 'text/csv',
    }),
  },
  {
    method: 'POST',
    template: '/sources/{id}/load-accounts',
    operationId: 'importAccounts',
    requiresToken: true,
    handle: ({ state, params, body, claims }) => {
      const fields = (body ?? {}) as Record<string, string>;
      if (fields.file === undefined) {
        throw badRequest('The multipart field "file" with the account CSV is required.');
      }
      const disableOptimization = fields.disableOptimization ?? 'false';
      if (disableOptimization !== 'true' && disableOptimization !== 'false') {
        throw badRequest(
          `The multipart field "disableOptimization" must be true or false, got "${disableOptimization}".`,
        );
      }
      const optimize = disableOptimization === 'false';
      const task = submitLoadAccounts(
        state,
        params.id!,
        fields.file,
        claims?.identity_id ?? 'unknown',
        { optimize },
      );
      return {
        status: 202,
        body: {
          success: true,
          task: {
            id: task.id,
            type: task.type,
            name: task.uniqueName,
            description: task.description,
            launcher: task.launcher,
            created: task.created,
            launched: task.launched,
            completed: task.completed,
            completionStatus: task.completionStatus,
            parentName: task.parentName,
            messages: [],
            progress: task.progress,
            attributes: {
              appId: params.id!,
              optimizedAggregation: optimize ? 'enabled' : 'disabled',
            },
            returns: task.returns.map((entry) => ({
              displayLabel: entry.name,
              attributeName: entry.attributeName,
            })),
          },
        },
      };
    },
  },
  {
    method: 'GET',
    template: '/sources/{sourceId}/schemas',
    operationId: 'getSourceSchemas',
    requiresToken: true,
    handle: ({ state, params, query }) => {
      let schemas = state.listSchemas(params.sourceId!);
      const includeNames = query.get('include-names');
      if (includeNames) {
        const names = new Set(includeNames.split(',').map((name) => name.trim()));
        schemas = schemas.filter((schema) => names.has(schema.name));
      }
      const includeTypes = query.get('include-types');
      if (includeTypes) {
        // include-types=user selects account schemas, and group selects group schemas.
        const objectType = includeTypes === 'user' ? 'account' : includeTypes;
        schemas = schemas.filter((schema) => schema.nativeObjectType === objectType);
      }
      return { status: 200, body: schemas };
    },
  },
  {
    method: 'GET',
    template: '/sources/{sourceId}/schemas/{schemaId}',
    operationId: 'getSourceSchema',
    requiresToken: true,
    handle: ({ state, params }) => ({
      status: 200,
      body: state.getSchema(params.sourceId!, params.schemaId!),
    }),
  },
  {
    method: 'PUT',
    template: '/sources/{sourceId}/schemas/{schemaId}',
    operationId: 'putSourceSchema',
    requiresToken: true,
    handle: ({ state, params, body }) => ({
      status: 200,
      body: state.replaceSchema(
        params.sourceId!,
        params.schemaId!,
        body as Record<string, unknown>,
      ),
    }),
  },
  {
    method: 'PATCH',
    template: '/sources/{sourceId}/schemas/{schemaId}',
    operationId: 'updateSourceSchema',
    requiresToken: true,
    handle: ({ state, params, body }) => ({
      status: 200,
      body: state.patchSchema(params.sourceId!, params.schemaId!, body as PatchOperation[]),
    }),
  },
];
