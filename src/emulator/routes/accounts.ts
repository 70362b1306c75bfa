// Accounts: /accounts and /accounts/{id}. Changes are asynchronous, as in ISC: the response is 202
// with a task id, and the change becomes visible when the task completes.

import { listCollection } from '../collection.ts';
import { badRequest } from '../errors.ts';
import type { Route } from '../route.ts';
import type { TenantState } from '../state.ts';
import type { AccountRecord } from '../state-types.ts';

const accountFilterSupport = {
  id: ['eq', 'in', 'sw'],
  identityId: ['eq', 'in', 'sw'],
  name: ['eq', 'in', 'sw'],
  nativeIdentity: ['eq', 'in', 'sw'],
  sourceId: ['eq', 'in', 'sw'],
  uncorrelated: ['eq'],
  'identity.name': ['eq', 'in', 'sw'],
  'source.authoritative': ['eq'],
} as const;

function readAccountField(state: TenantState, account: AccountRecord, field: string): unknown {
  switch (field) {
    case 'identityId':
      return account.identityId;
    case 'uncorrelated':
      return account.identityId === null;
    case 'identity.name':
      return account.identityId ? state.identities.get(account.identityId)?.identity.name : null;
    case 'source.authoritative':
      return state.sources.get(account.sourceId)?.authoritative ?? false;
    default:
      return (account as unknown as Record<string, unknown>)[field];
  }
}

function launcherOf(claims: { identity_id: string } | null): string {
  return claims?.identity_id ?? 'unknown';
}

export const accountRoutes: Route[] = [
  {
    method: 'GET',
    template: '/accounts',
    operationId: 'listAccounts',
    requiresToken: true,
    handle: ({ state, query, listing }) => {
      const detailLevel = query.get('detailLevel');
      // NOTE: SLIM is accepted but returns the same fields as FULL.
      if (detailLevel !== null && detailLevel !== 'SLIM' && detailLevel !== 'FULL') {
        throw badRequest(
          `The query parameter "detailLevel" must be SLIM or FULL, got "${detailLevel}".`,
        );
      }
      return listCollection(
        state.accounts.values(),
        query,
        {
          filterSupport: accountFilterSupport,
          sorters: {
            id: (account) => account.id,
            name: (account) => account.name,
            nativeIdentity: (account) => account.nativeIdentity,
            sourceId: (account) => account.sourceId,
            identityId: (account) => account.identityId,
            created: (account) => account.created,
            modified: (account) => account.modified,
          },
          readField: (account, field) => readAccountField(state, account, field),
          render: (account) => state.accountDto(account),
          created: (account) => account.created,
        },
        listing,
      );
    },
  },
  {
    method: 'POST',
    template: '/accounts',
    operationId: 'createAccount',
    requiresToken: true,
    handle: ({ state, body, claims }) => {
      const { attributes } = body as { attributes: Record<string, string> };
      const task = state.submitAccountCreate(attributes, launcherOf(claims));
      return { status: 202, body: { id: task.id } };
    },
  },
  {
    method: 'GET',
    template: '/accounts/{id}',
    operationId: 'getAccount',
    requiresToken: true,
    handle: ({ state, params }) => ({
      status: 200,
      body: state.accountDto(state.getAccount(params.id!)),
    }),
  },
  {
    method: 'PUT',
    template: '/accounts/{id}',
    operationId: 'putAccount',
    requiresToken: true,
    handle: ({ state, params, body, claims }) => {
      const { attributes } = body as { attributes: Record<string, unknown> };
      const task = state.submitAccountUpdate(params.id!, attributes, launcherOf(claims));
      return { status: 202, body: { id: task.id } };
    },
  },
  {
    method: 'DELETE',
    template: '/accounts/{id}',
    operationId: 'deleteAccount',
    requiresToken: true,
    handle: ({ state, params, claims }) => {
      const task = state.submitAccountDelete(params.id!, launcherOf(claims));
      return { status: 202, body: { id: task.id } };
    },
  },
];
