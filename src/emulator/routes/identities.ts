// Identities: /identities and /identities/{id}.

import { listCollection } from '../collection.ts';
import { badRequest } from '../errors.ts';
import type { Route } from '../route.ts';
import type { IdentityRecord } from '../state-types.ts';

const identityFilterSupport = {
  id: ['eq', 'in'],
  name: ['eq', 'sw'],
  alias: ['eq', 'sw'],
  firstname: ['eq', 'sw'],
  lastname: ['eq', 'sw'],
  email: ['eq', 'sw'],
  cloudStatus: ['eq'],
  processingState: ['eq'],
  correlated: ['eq'],
} as const;

function readIdentityField(record: IdentityRecord, field: string): unknown {
  const identity = record.identity;
  switch (field) {
    case 'id':
    case 'name':
    case 'alias':
    case 'processingState':
      return identity[field];
    case 'email':
      return identity.emailAddress;
    case 'correlated':
      return record.correlated;
    default:
      return identity.attributes[field];
  }
}

export const identityRoutes: Route[] = [
  {
    method: 'GET',
    template: '/identities',
    operationId: 'listIdentities',
    requiresToken: true,
    handle: ({ state, query, listing }) => {
      const defaultFilter = query.get('defaultFilter') ?? 'CORRELATED_ONLY';
      if (defaultFilter !== 'CORRELATED_ONLY' && defaultFilter !== 'NONE') {
        throw badRequest(
          `The query parameter "defaultFilter" must be CORRELATED_ONLY or NONE, got "${defaultFilter}".`,
        );
      }
      const records = [...state.identities.values()].filter(
        (record) => defaultFilter === 'NONE' || record.correlated,
      );
      return listCollection(
        records,
        query,
        {
          filterSupport: identityFilterSupport,
          sorters: {
            name: (record) => record.identity.name,
            alias: (record) => record.identity.alias,
            cloudStatus: (record) => record.identity.attributes.cloudStatus,
          },
          readField: readIdentityField,
          render: (record) => record.identity,
          created: (record) => record.identity.created,
        },
        listing,
      );
    },
  },
  {
    method: 'GET',
    template: '/identities/{id}',
    operationId: 'getIdentity',
    requiresToken: true,
    handle: ({ state, params }) => ({ status: 200, body: state.getIdentity(params.id!) }),
  },
];
