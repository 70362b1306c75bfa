// Identity access: /personal-access-tokens, /auth-users/{id} and /identities/invite.

import {
  authUserDto,
  type CreatePatRequest,
  createPersonalAccessToken,
  deletePersonalAccessToken,
  inviteIdentities,
  patchAuthUser,
  patchPersonalAccessToken,
  personalAccessTokenDto,
} from '../access.ts';
import { hideRecent } from '../collection.ts';
import { badRequest } from '../errors.ts';
import {
  checkFilterSupport,
  FilterSyntaxError,
  matchesFilter,
  parseFilter,
  UnsupportedFilterError,
} from '../filters.ts';
import type { PatchOperation } from '../json-patch.ts';
import type { Route, RouteRequest } from '../route.ts';

function callerId(request: RouteRequest): string {
  return request.claims!.identity_id;
}

export const accessRoutes: Route[] = [
  {
    method: 'GET',
    template: '/personal-access-tokens',
    operationId: 'listPersonalAccessTokens',
    requiresToken: true,
    handle: (request) => {
      const ownerParameter = request.query.get('owner-id');
      const ownerId = ownerParameter === 'me' ? callerId(request) : ownerParameter;
      const owned = [...request.state.personalAccessTokens.values()].filter(
        (token) => ownerId === null || token.ownerId === ownerId,
      );
      // The spec declares no sorters for this list, so its order is always unspecified.
      let tokens = request.listing.orderUnsorted(
        hideRecent(owned, (token) => token.created, request.listing),
      );
      const filterText = request.query.get('filters');
      if (filterText) {
        // The spec documents only lastUsed (le, isnull) as a filter for this list.
        try {
          const filter = parseFilter(filterText);
          checkFilterSupport(filter, { lastUsed: ['le', 'isnull'] });
          tokens = tokens.filter((token) =>
            matchesFilter(filter, (field) => (field === 'lastUsed' ? token.lastUsed : undefined)),
          );
        } catch (error) {
          if (error instanceof FilterSyntaxError || error instanceof UnsupportedFilterError) {
            throw badRequest(`Invalid filter "${filterText}": ${error.message}.`);
          }
          throw error;
        }
      }
      return {
        status: 200,
        body: tokens.map((token) => personalAccessTokenDto(request.state, token)),
      };
    },
  },
  {
    method: 'POST',
    template: '/personal-access-tokens',
    operationId: 'createPersonalAccessToken',
    requiresToken: true,
    handle: (request) => {
      const token = createPersonalAccessToken(
        request.state,
        callerId(request),
        request.body as CreatePatRequest,
      );
      const dto = personalAccessTokenDto(request.state, token);
      // The secret is returned here only. The spec declares 200 for this create, not 201.
      return {
        status: 200,
        body: {
          id: dto.id,
          secret: token.secret,
          scope: dto.scope,
          name: dto.name,
          owner: dto.owner,
          created: dto.created,
          accessTokenValiditySeconds: dto.accessTokenValiditySeconds,
          expirationDate: dto.expirationDate,
        },
      };
    },
  },
  {
    method: 'PATCH',
    template: '/personal-access-tokens/{id}',
    operationId: 'patchPersonalAccessToken',
    requiresToken: true,
    handle: (request) => {
      const token = patchPersonalAccessToken(
        request.state,
        request.params.id!,
        callerId(request),
        request.body as PatchOperation[],
      );
      return { status: 200, body: personalAccessTokenDto(request.state, token) };
    },
  },
  {
    method: 'DELETE',
    template: '/personal-access-tokens/{id}',
    operationId: 'deletePersonalAccessToken',
    requiresToken: true,
    handle: (request) => {
      deletePersonalAccessToken(request.state, request.params.id!, callerId(request));
      return { status: 204 };
    },
  },
  {
    method: 'GET',
    template: '/auth-users/{id}',
    operationId: 'getAuthUser',
    requiresToken: true,
    handle: ({ state, params }) => ({ status: 200, body: authUserDto(state, params.id!) }),
  },
  {
    method: 'PATCH',
    template: '/auth-users/{id}',
    operationId: 'patchAuthUser',
    requiresToken: true,
    handle: ({ state, params, body }) => ({
      status: 200,
      body: patchAuthUser(state, params.id!, body as PatchOperation[]),
    }),
  },
  {
    method: 'POST',
    template: '/identities/invite',
    operationId: 'startIdentitiesInvite',
    requiresToken: true,
    handle: (request) => {
      // Experimental endpoints fail without this header, as SailPoint's versioning guide states.
      // NOTE: the status of that failure is not documented. The emulator answers 400.
      if (request.headers['x-sailpoint-experimental'] !== 'true') {
        throw badRequest(
          'This endpoint is experimental. Send the header X-SailPoint-Experimental: true.',
        );
      }
      const task = inviteIdentities(
        request.state,
        request.body as { ids?: string[] | null; uninvited?: boolean },
        callerId(request),
      );
      return { status: 202, body: task };
    },
  },
];
