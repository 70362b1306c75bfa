// POST /oauth/token with grant_type=client_credentials, the only grant a PAT uses. Fields come from
// the form-encoded body or, as SailPoint's authentication guide also shows, from query parameters.

import type { TokenAuthority } from '../auth.ts';
import { badRequest, IscHttpError } from '../errors.ts';
import type { Route } from '../route.ts';

/** Returns the user context of a PAT's owner, or undefined when the identity is gone. */
export type TokenOwnerLookup = (
  identityId: string,
) => { userName: string; authorities: string[] } | undefined;

export function createOauthRoutes(
  authority: TokenAuthority,
  lookupOwner: TokenOwnerLookup,
): Route[] {
  return [
    {
      method: 'POST',
      template: '/oauth/token',
      operationId: 'createOauthToken',
      requiresToken: false,
      bodyOptional: true,
      handle: ({ body, query }) => {
        const fields = new Map<string, string>(query);
        for (const [name, value] of Object.entries((body ?? {}) as Record<string, string>)) {
          fields.set(name, value);
        }
        const grantType = fields.get('grant_type');
        if (!grantType) throw badRequest('The parameter "grant_type" is required.');
        if (grantType !== 'client_credentials') {
          // NOTE: the spec also lists authorization_code and refresh_token, but the emulator has
          // no browser login, so it rejects them.
          throw badRequest(`The grant type "${grantType}" is not supported by the emulator.`);
        }
        const client = authority.authenticate(
          fields.get('client_id') ?? '',
          fields.get('client_secret') ?? '',
        );
        const owner = client ? lookupOwner(client.identityId) : undefined;
        if (!client || !owner) {
          // NOTE: this is the OAuth 2.0 (RFC 6749) error body. ISC's exact 401 body for wrong
          // client credentials is not in the spec, which only declares an `error` field.
          throw new IscHttpError(
            401,
            { error: 'invalid_client', error_description: 'Bad credentials' },
            'client authentication failed',
          );
        }
        return {
          status: 200,
          body: authority.issue(client, { identityId: client.identityId, ...owner }),
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    },
  ];
}
