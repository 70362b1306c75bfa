import got, { type Got, RequestError } from 'got';
import type { Logger } from 'pino';
import { IscApiError, IscNetworkError, isIscError, parseIscErrorBody } from './errors.ts';
import { SlidingWindowLimiter } from './limiter.ts';

/** Family of API paths used to call the tenant. */
export type IscApiVersion = 'v2025' | 'per-service';

export interface IscClientOptions {
  /** Tenant API root, e.g. `https://acme.api.identitynow.com`. */
  baseUrl: string;
  /** Client id and secret of a personal access token (user context, not an API client). */
  clientId: string;
  clientSecret: string;
  /**
   * Source of the client id and secret, such as `Secret team-a/audit01-pat`. Errors the client
   * raises carry it, so that a rejected credential names the Secret to fix.
   */
  credential?: string | undefined;
  apiVersion?: IscApiVersion;
  /** Request starts allowed per `rateLimitWindowMs`; ISC's gateway default is 100 per 10 s. */
  rateLimit?: number;
  rateLimitWindowMs?: number;
  /** Timeout of one HTTP attempt, in milliseconds. */
  timeoutMs?: number;
  /** Retries of a failed safe call (GET, PUT, PATCH, DELETE) before the error reaches the caller. */
  maxRetries?: number;
  logger: Logger;
  observer?: IscCallObserver;
}

/** Receives one notice per HTTP attempt and per retry, e.g. to count them as metrics. */
export interface IscCallObserver {
  call(method: string, path: string, status: number | 'network_error', durationMs: number): void;
  retry(method: string, path: string, reason: string): void;
}

export interface IscRequest {
  searchParams?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  /** Raw body with its content type, e.g. JSON Patch. */
  body?: { contentType: string; data: string | Buffer };
  headers?: Record<string, string>;
}

export interface IscResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

/** Facts the token endpoint returns about the credential's owner. */
export interface TokenOwner {
  identityId: string | undefined;
  tenantId: string | undefined;
  /** Scopes granted to the token; `sp:scopes:all` stands for every right of the user level. */
  scopes: string[];
}

interface CachedToken {
  accessToken: string;
  expiresAt: number;
  owner: TokenOwner;
}

const safeMethods = new Set(['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE']);

/**
 * One tenant connection: OAuth client-credentials token, rate limit and retries shared by every
 * caller. Calls return parsed JSON or throw `IscApiError` / `IscNetworkError`.
 *
 * A POST is retried only when the server provably did not act on it (429, connection refused),
 * because creates are not idempotent in ISC; callers look up before they create again.
 */
export class IscClient {
  readonly baseUrl: string;
  readonly apiVersion: IscApiVersion;
  private readonly clientId: string;
  private readonly clientSecret: string;
  private readonly credential: string | undefined;
  private readonly http: Got;
  private readonly limiter: SlidingWindowLimiter;
  private readonly maxRetries: number;
  private readonly logger: Logger;
  private readonly observer: IscCallObserver | undefined;
  private token: CachedToken | undefined;
  private tokenRequest: Promise<CachedToken> | undefined;

  constructor(options: IscClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiVersion = options.apiVersion ?? 'v2025';
    this.clientId = options.clientId;
    this.clientSecret = options.clientSecret;
    this.credential = options.credential;
    this.maxRetries = options.maxRetries ?? 4;
    this.logger = options.logger;
    this.observer = options.observer;
    this.limiter = new SlidingWindowLimiter(
      options.rateLimit ?? 100,
      options.rateLimitWindowMs ?? 10_000,
    );
    this.http = got.extend({
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: options.timeoutMs ?? 30_000 },
      responseType: 'text',
      headers: { 'user-agent': 'isc-sa-operator', accept: 'application/json' },
    });
  }

  /** Client id of the credential; not a secret (ISC shows it as the PAT's id). */
  get credentialId(): string {
    return this.clientId;
  }

  /**
   * Forgets the cached access token, e.g. after the credential's scopes changed: ISC keeps
   * the scopes of tokens already issued, so only a new token can carry the new ones.
   */
  dropCachedToken(): void {
    this.token = undefined;
  }

  /** Callers waiting for the rate limiter. */
  get queueDepth(): number {
    return this.limiter.queueDepth;
  }

  /**
   * Builds the path of a service's endpoint in the configured family:
   * `/v2025/accounts/{id}` or `/accounts/v1/{id}`.
   */
  path(service: string, rest = ''): string {
    return this.apiVersion === 'v2025' ? `/v2025/${service}${rest}` : `/${service}/v1${rest}`;
  }

  /** Identity that owns the credential, from the token response. */
  async tokenOwner(): Promise<TokenOwner> {
    return (await this.accessToken()).owner;
  }

  async get<T>(path: string, request: IscRequest = {}): Promise<IscResponse<T>> {
    return this.request<T>('GET', path, request);
  }

  async request<T>(
    method: string,
    path: string,
    request: IscRequest = {},
  ): Promise<IscResponse<T>> {
    let attempt = 0;
    let refreshedToken = false;
    for (;;) {
      const used: { token?: string } = {};
      try {
        return await this.attempt<T>(method, path, request, attempt, used);
      } catch (error) {
        if (!isIscError(error)) throw error;

        if (error instanceof IscApiError && error.kind === 'unauthorized' && !refreshedToken) {
          // A token can be revoked or expire early; one fresh token decides whether the
          // credential itself is bad. Only the rejected token is dropped, so concurrent
          // callers that already hold a newer one do not each fetch another.
          refreshedToken = true;
          if (this.token?.accessToken === used.token) this.token = undefined;
          this.observer?.retry(method, path, 'unauthorized');
          continue;
        }
        if (error instanceof IscApiError && error.kind === 'forbidden') {
          // The scopes of an access token are fixed when it is issued. A 403 may come from a
          // scope that was added to the PAT since, so the next call starts with a new token.
          // The caller decides whether and when to retry.
          if (this.token?.accessToken === used.token) this.token = undefined;
        }
        if (!this.mayRetry(method, error) || attempt >= this.maxRetries) throw error;

        const delayMs = retryDelay(attempt, error instanceof IscApiError ? error.retryAfterMs : 0);
        this.logger.warn(
          { method, path, attempt: attempt + 1, delayMs, err: error.message },
          'retrying ISC call',
        );
        this.observer?.retry(method, path, retryReason(error));
        await sleep(delayMs);
        attempt++;
      }
    }
  }

  private mayRetry(method: string, error: IscApiError | IscNetworkError): boolean {
    if (error.kind !== 'transient') return false;
    if (safeMethods.has(method)) return true;
    // The gateway rejects a rate-limited request before the service receives it, and a refused
    // connection never carried the request, so both are safe to send again.
    if (error instanceof IscApiError) return error.status === 429;
    return error.code === 'ECONNREFUSED';
  }

  private async attempt<T>(
    method: string,
    path: string,
    request: IscRequest,
    attempt: number,
    used: { token?: string },
  ): Promise<IscResponse<T>> {
    // A call can wait in the limiter's queue past its token's expiry, so the token is checked
    // again once the slot is held. No slot is held while a token is fetched, because the
    // token request needs a slot of its own.
    for (;;) {
      const token = await this.accessToken();
      const release = await this.limiter.acquire();
      if (Date.now() >= token.expiresAt) {
        release();
        continue;
      }
      used.token = token.accessToken;
      try {
        return await this.send<T>(method, path, request, attempt, token);
      } finally {
        release();
      }
    }
  }

  private async send<T>(
    method: string,
    path: string,
    request: IscRequest,
    attempt: number,
    token: CachedToken,
  ): Promise<IscResponse<T>> {
    const headers: Record<string, string> = {
      ...request.headers,
      authorization: `Bearer ${token.accessToken}`,
    };
    let body: string | Buffer | undefined;
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.json);
    } else if (request.body !== undefined) {
      headers['content-type'] = request.body.contentType;
      body = request.body.data;
    }

    const started = performance.now();
    const url = `${this.baseUrl}${path}${queryString(request.searchParams)}`;
    let response: { statusCode: number; body: string; headers: IscResponse<T>['headers'] };
    try {
      response = await this.http(url, { method: method as 'GET', headers, body });
    } catch (error) {
      if (!(error instanceof RequestError)) throw error;
      this.observer?.call(method, path, 'network_error', performance.now() - started);
      throw new IscNetworkError(method, path, error);
    }
    const durationMs = Math.round(performance.now() - started);
    this.observer?.call(method, path, response.statusCode, durationMs);
    this.logger.debug(
      { method, path, status: response.statusCode, durationMs, attempt },
      'ISC call',
    );

    if (response.statusCode >= 400) {
      const retryAfterMs = parseRetryAfter(response.headers['retry-after']);
      if (response.statusCode === 429 && retryAfterMs !== undefined)
        this.limiter.pause(retryAfterMs);
      throw new IscApiError({
        status: response.statusCode,
        method,
        path,
        detail: parseIscErrorBody(response.body),
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        credential: this.credential,
      });
    }
    return {
      status: response.statusCode,
      body: (response.body === '' ? undefined : JSON.parse(response.body)) as T,
      headers: response.headers,
    };
  }

  /** Returns a cached token, or fetches one; concurrent callers share one token request. */
  private async accessToken(): Promise<CachedToken> {
    if (this.token !== undefined && Date.now() < this.token.expiresAt) return this.token;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    this.token = await this.tokenRequest;
    return this.token;
  }

  private async fetchToken(): Promise<CachedToken> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.clientId,
      client_secret: this.clientSecret,
    });
    for (let attempt = 0; ; attempt++) {
      let response: { statusCode: number; body: string; headers: Record<string, unknown> };
      const release = await this.limiter.acquire();
      try {
        response = await this.http.post(`${this.baseUrl}/oauth/token`, {
          body: form.toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
      } catch (error) {
        release();
        if (!(error instanceof RequestError)) throw error;
        const networkError = new IscNetworkError('POST', '/oauth/token', error);
        if (attempt >= this.maxRetries) throw networkError;
        await sleep(retryDelay(attempt, 0));
        continue;
      }
      release();

      if (response.statusCode === 429 || response.statusCode >= 500) {
        const retryAfterMs = parseRetryAfter(response.headers['retry-after'] as string | undefined);
        if (attempt < this.maxRetries) {
          this.logger.warn(
            { status: response.statusCode, attempt: attempt + 1 },
            'retrying ISC token request',
          );
          await sleep(retryDelay(attempt, retryAfterMs ?? 0));
          continue;
        }
      }
      if (response.statusCode >= 400) {
        throw new IscApiError({
          status: response.statusCode,
          method: 'POST',
          path: '/oauth/token',
          detail: parseIscErrorBody(response.body),
          credential: this.credential,
        });
      }

      const token = JSON.parse(response.body) as {
        access_token: string;
        expires_in?: number;
        identity_id?: string;
        tenant_id?: string;
        scope?: string;
      };
      const lifetimeMs = (token.expires_in ?? 300) * 1000;
      // Renew before expiry: a tenth of the lifetime early, at most one minute.
      const marginMs = Math.min(lifetimeMs / 10, 60_000);
      return {
        accessToken: token.access_token,
        expiresAt: Date.now() + lifetimeMs - marginMs,
        owner: {
          identityId: token.identity_id,
          tenantId: token.tenant_id,
          scopes: (token.scope ?? '').split(/\s+/).filter((scope) => scope !== ''),
        },
      };
    }
  }
}

/**
 * Encodes query parameters with `%20` for spaces, since ISC filter values are quoted strings and
 * the form-style `+` is not documented for them.
 */
export function queryString(params: IscRequest['searchParams']): string {
  if (params === undefined) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

function retryReason(error: IscApiError | IscNetworkError): string {
  if (error instanceof IscNetworkError) return 'network_error';
  return error.status === 429 ? 'rate_limited' : 'server_error';
}

function parseRetryAfter(header: unknown): number | undefined {
  if (typeof header !== 'string') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(seconds, 0) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(date - Date.now(), 0);
}

/** Exponential backoff from 500 ms, capped at 30 s, with full jitter; never below Retry-After. */
function retryDelay(attempt: number, retryAfterMs = 0): number {
  const ceiling = Math.min(500 * 2 ** attempt, 30_000);
  return Math.max(Math.round(Math.random() * ceiling), retryAfterMs);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
