// Identity profiles: /identity-profiles, /identity-profiles/{identity-profile-id} and its
// process-identities action ("Apply Changes" in the UI).

import { listCollection } from '../collection.ts';
import { badRequest } from '../errors.ts';
import { submitProcessIdentities } from '../identity-processing.ts';
import type { PatchOperation } from '../json-patch.ts';
import type { Route, RouteRequest } from '../route.ts';
import type { IdentityProfileDto } from '../state-types.ts';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Returns the path id; the spec declares it as format uuid, so anything else is a 400. */
function profileId(request: RouteRequest): string {
  const id = request.params['identity-profile-id']!;
  if (!uuidPattern.test(id)) {
    throw badRequest(`The identity profile id "${id}" is not a valid UUID.`);
  }
  return id;
}

const profileFilterSupport = {
  id: ['eq', 'ne', 'ge', 'gt', 'in', 'le', 'sw'],
  name: ['eq', 'ne', 'ge', 'gt', 'in', 'le', 'sw'],
  priority: ['eq', 'ne'],
} as const;

const profileSorters = {
  id: (profile: IdentityProfileDto) => profile.id,
  name: (profile: IdentityProfileDto) => profile.name,
  priority: (profile: IdentityProfileDto) => profile.priority,
  created: (profile: IdentityProfileDto) => profile.created,
  modified: (profile: IdentityProfileDto) => profile.modified,
  'owner.id': (profile: IdentityProfileDto) => (profile.owner as { id?: string } | null)?.id,
  'owner.name': (profile: IdentityProfileDto) => (profile.owner as { name?: string } | null)?.name,
};

export const identityProfileRoutes: Route[] = [
  {
    method: 'GET',
    template: '/identity-profiles',
    operationId: 'listIdentityProfiles',
    requiresToken: true,
    handle: ({ state, query, listing }) =>
      listCollection(
        state.identityProfiles.values(),
        query,
        {
          filterSupport: profileFilterSupport,
          sorters: profileSorters,
          render: (profile) => state.identityProfileDto(profile),
          created: (profile) => profile.created,
        },
        listing,
      ),
  },
  {
    method: 'POST',
    template: '/identity-profiles',
    operationId: 'createIdentityProfile',
    requiresToken: true,
    handle: ({ state, body }) => {
      const profile = state.createIdentityProfile(body as Record<string, unknown>);
      return { status: 201, body: state.identityProfileDto(profile) };
    },
  },
  {
    method: 'GET',
    template: '/identity-profiles/{identity-profile-id}',
    operationId: 'getIdentityProfile',
    requiresToken: true,
    handle: (request) => {
      const profile = request.state.getIdentityProfile(profileId(request));
      return { status: 200, body: request.state.identityProfileDto(profile) };
    },
  },
  {
    method: 'PATCH',
    template: '/identity-profiles/{identity-profile-id}',
    operationId: 'updateIdentityProfile',
    requiresToken: true,
    handle: (request) => {
      const operations = request.body as PatchOperation[];
      const profile = request.state.patchIdentityProfile(profileId(request), operations);
      return { status: 200, body: request.state.identityProfileDto(profile) };
    },
  },
  {
    method: 'DELETE',
    template: '/identity-profiles/{identity-profile-id}',
    operationId: 'deleteIdentityProfile',
    requiresToken: true,
    handle: (request) => {
      const launcher = request.claims?.identity_id ?? 'unknown';
      const task = request.state.submitIdentityProfileDelete(profileId(request), launcher);
      return {
        status: 202,
        body: {
          id: task.id,
          name: task.uniqueName,
          launcher: task.launcher,
          launched: task.launched,
        },
      };
    },
  },
  {
    method: 'POST',
    template: '/identity-profiles/{identity-profile-id}/process-identities',
    operationId: 'syncIdentityProfile',
    requiresToken: true,
    handle: (request) => {
      const launcher = request.claims?.identity_id ?? 'unknown';
      submitProcessIdentities(request.state, profileId(request), launcher);
      // NOTE: the spec declares the 202 body only as an object and documents no fields, so the
      // emulator sends an empty object. Callers cannot rely on a task id here.
      return { status: 202, body: {} };
    },
  },
];
