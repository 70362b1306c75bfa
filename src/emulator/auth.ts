// OAuth client-credentials tokens as ISC issues them for personal access tokens (PATs): an ES256
// JWT whose claims and token response fields follow SailPoint's authentication guide
// (developer.sailpoint.com/docs/api/authentication).

import { generateKeyPairSync, type KeyObject, randomUUID, sign, verify } from 'node:crypto';
import { unauthorized } from './errors.ts';

export interface ClientCredential {
  clientId: string;
  clientSecret: string;
  /** Owner of the PAT, whose user context the token carries. */
  identityId?: string;
  /** Scopes of the PAT. Default: none given, which ISC treats as `sp:scopes:all`. */
  scope?: string[];
}

/** A credential as the token endpoint checks it: a PAT's id, secret, owner and lifetimes. */
export interface ResolvedClient {
  clientId: string;
  clientSecret: string;
  identityId: string;
  accessTokenValiditySeconds: number;
  /** ISO date-time after which the PAT is rejected, or null when it never expires. */
  expirationDate: string | null;
  /** Scopes a token issued now carries; a PAT without scopes gives `sp:scopes:all`. */
  scope: string[];
}

export interface TenantInfo {
  tenantId: string;
  org: string;
  pod: string;
}

export interface TokenOwner {
  identityId: string;
  userName: string;
  authorities: string[];
}

export interface TokenClaims {
  tenant_id: string;
  internal: boolean;
  pod: string;
  org: string;
  identity_id: string;
  user_name: string;
  strong_auth: boolean;
  authorities: string[];
  client_id: string;
  strong_auth_supported: boolean;
  user_id: string;
  scope: string[];
  exp: number;
  jti: string;
}

function base64UrlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Issuer and verifier of access tokens, with signing keys that exist only in this process. */
export class TokenAuthority {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #tenant: TenantInfo;
  readonly #resolveClient: (clientId: string) => ResolvedClient | undefined;
  readonly #now: () => number;
  /** Every access token issued so far, for the admin endpoint that tests scan for leaks. */
  readonly issuedAccessTokens: string[] = [];

  constructor(options: {
    tenant: TenantInfo;
    /** Looks up a credential by client id, so PATs created at run time work at once. */
    resolveClient: (clientId: string) => ResolvedClient | undefined;
    /** Clock in milliseconds, replaceable so tests can expire tokens. */
    now?: () => number;
  }) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
    this.#tenant = options.tenant;
    this.#resolveClient = options.resolveClient;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Returns the credential when the id and secret match a PAT that has not expired, else
   * undefined.
   */
  authenticate(clientId: string, clientSecret: string): ResolvedClient | undefined {
    const client = this.#resolveClient(clientId);
    if (!client || client.clientSecret !== clientSecret) return undefined;
    if (client.expirationDate !== null && Date.parse(client.expirationDate) <= this.#now()) {
      return undefined;
    }
    return client;
  }

  /** Returns the token response body for an authenticated client. */
  issue(client: ResolvedClient, owner: TokenOwner): Record<string, unknown> {
    const ttlSeconds = client.accessTokenValiditySeconds;
    const jti = randomUUID();
    const scope = [...client.scope];
    const claims: TokenClaims = {
      tenant_id: this.#tenant.tenantId,
      internal: false,
      pod: this.#tenant.pod,
      org: this.#tenant.org,
      identity_id: owner.identityId,
      user_name: owner.userName,
      strong_auth: false,
      authorities: owner.authorities,
      client_id: client.clientId,
      strong_auth_supported: false,
      user_id: owner.identityId,
      scope,
      exp: Math.floor(this.#now() / 1000) + ttlSeconds,
      jti,
    };
    const signingInput = `${base64UrlJson({ alg: 'ES256', typ: 'JWT' })}.${base64UrlJson(claims)}`;
    const signature = sign('sha256', Buffer.from(signingInput), {
      key: this.#privateKey,
      dsaEncoding: 'ieee-p1363',
    }).toString('base64url');
    const accessToken = `${signingInput}.${signature}`;
    this.issuedAccessTokens.push(accessToken);
    return {
      access_token: accessToken,
      token_type: 'bearer',
      expires_in: ttlSeconds,
      scope: scope.join(' '),
      accessType: 'OFFLINE',
      tenant_id: this.#tenant.tenantId,
      internal: false,
      pod: this.#tenant.pod,
      strong_auth_supported: false,
      org: this.#tenant.org,
      user_id: owner.identityId,
      identity_id: owner.identityId,
      strong_auth: false,
      enabled: true,
      jti,
    };
  }

  /**
   * Verifies an `Authorization` header value and returns the token's claims. Raises a 401
   * IscHttpError when the header is missing, malformed, forged or expired.
   */
  verifyAuthorization(header: string | undefined): TokenClaims {
    if (!header) throw unauthorized('no Authorization header was sent');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw unauthorized('the Authorization header is not a Bearer token');
    const parts = match[1]!.split('.');
    if (parts.length !== 3) throw unauthorized('JWT is malformed');
    const [header64, payload64, signature64] = parts as [string, string, string];
    const valid = verify(
      'sha256',
      Buffer.from(`${header64}.${payload64}`),
      { key: this.#publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature64, 'base64url'),
    );
    if (!valid) throw unauthorized('JWT signature does not match');
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload64, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      throw unauthorized('JWT is malformed');
    }
    if (claims.exp * 1000 <= this.#now()) throw unauthorized('JWT is expired');
    // NOTE: tokens of a deleted PAT are rejected at once. ISC may accept them until they expire.
    if (!this.#resolveClient(claims.client_id)) throw unauthorized('the client no longer exists');
    return claims;
  }
}
