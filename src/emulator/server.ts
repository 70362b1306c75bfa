// HTTP server of the ISC emulator: a loopback-only stand-in for an Identity Security Cloud tenant.
// It routes requests, checks tokens, validates request and response bodies against SailPoint's
// published OpenAPI contract, and records every call for tests and benchmarks.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { defaultAccessTokenValiditySeconds, seedPersonalAccessToken } from './access.ts';
import { handleAdminRequest } from './admin.ts';
import { type ClientCredential, TokenAuthority, type TokenClaims } from './auth.ts';
import { Contract } from './contract.ts';
import {
  badRequest,
  errorResponse,
  IscHttpError,
  methodNotAllowed,
  routeNotFound,
  unsupportedMediaType,
} from './errors.ts';
import { RateLimiter, type RateLimitOptions } from './rate-limit.ts';
import type { Route, RouteResponse } from './route.ts';
import { apiFamily, normalizeApiPath, Router } from './router.ts';
import { accessRoutes } from './routes/access.ts';
import { accountRoutes } from './routes/accounts.ts';
import { identityRoutes } from './routes/identities.ts';
import { identityProfileRoutes } from './routes/identity-profiles.ts';
import { createOauthRoutes } from './routes/oauth.ts';
import { sourceRoutes } from './routes/sources.ts';
import { taskRoutes } from './routes/tasks.ts';
import { TenantState } from './state.ts';

export interface EmulatorOptions {
  /** Loopback address to listen on: 127.0.0.1 (default), ::1 or localhost. Others are rejected. */
  host?: string;
  /** TCP port. The default 0 picks a free one. */
  port?: number;
  /**
   * PAT credentials accepted at /oauth/token. A client without identityId belongs to the seeded
   * admin identity. Default: one admin client with a random secret (see RunningEmulator.clients).
   */
  clients?: ClientCredential[];
  /** Delay before asynchronous work (account changes, identity processing) completes. */
  asyncDelayMs?: number;
  tokenTtlSeconds?: number;
  /** Delay added before every response, to imitate network and service latency. */
  latencyMs?: number;
  /**
   * Gateway rate limit per client id and API version family. Default: off. Pass
   * `iscDefaultRateLimit` for ISC's documented 100 requests per 10 seconds.
   */
  rateLimit?: RateLimitOptions | null;
  /** Log every response that breaks the contract at error level (it is recorded either way). */
  strictResponses?: boolean;
  logger?: Logger;
}

/** One handled request. Never contains a token or a client secret. */
export interface CallRecord {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  status: number;
  durationMs: number;
  clientId: string | null;
}

/** A response the emulator sent that SailPoint's spec does not allow. */
export interface ContractViolation {
  operationId: string;
  method: string;
  path: string;
  status: number;
  problems: string[];
}

export interface RunningEmulator {
  /** Base URL without a version prefix, for example http://127.0.0.1:41234. */
  url: string;
  port: number;
  state: TenantState;
  /** The accepted credentials, including generated secrets, for in-process callers. */
  clients: ClientCredential[];
  /** Identity id of the seeded ORG_ADMIN identity that owns the default client. */
  adminIdentityId: string;
  calls: CallRecord[];
  contractViolations: ContractViolation[];
  clearCalls(): void;
  close(): Promise<void>;
}

export const defaultClientId = 'isc-emulator-admin';

const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);
const maxBodyBytes = 10 * 1024 * 1024;

/**
 * Statuses the gateway sends before an operation runs. The spec does not declare them per
 * operation, so responses with them are not checked against the operation's response list.
 */
const gatewayStatuses = new Set([405, 413, 415]);

const jsonMediaTypes = new Set(['application/json', 'application/json-patch+json']);

function queryRecord(query: URLSearchParams): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const name of new Set(query.keys())) {
    const values = query
      .getAll(name)
      .map((value) => (name === 'client_secret' ? '[REDACTED]' : value));
    record[name] = values.length === 1 ? values[0]! : values;
  }
  return record;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) {
      throw new IscHttpError(
        413,
        errorResponse('413 Payload Too Large', [`The request body exceeds ${maxBodyBytes} bytes.`]),
        'request body too large',
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function mediaTypeOf(request: IncomingMessage): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Parses a multipart body into string fields, reading file parts as UTF-8 text. */
async function parseMultipart(raw: Buffer, contentType: string): Promise<Record<string, string>> {
  let form: FormData;
  try {
    form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  } catch (error) {
    throw badRequest(`The multipart body could not be parsed: ${(error as Error).message}.`);
  }
  const fields: Record<string, string> = {};
  for (const [name, value] of form.entries()) {
    fields[name] = typeof value === 'string' ? value : await value.text();
  }
  return fields;
}

function describeIssue(issue: { field: string; message: string }): string {
  if (issue.message === 'is required') return `The field "${issue.field}" is required.`;
  return `The field "${issue.field}" ${issue.message}.`;
}

/** Starts an emulator and resolves once it listens. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? '127.0.0.1';
  if (!loopbackHosts.has(host)) {
    throw new Error(
      `Host "${host}" is not a loopback address. The emulator listens on 127.0.0.1, ::1 or localhost only.`,
    );
  }
  const logger = options.logger ?? pino({ name: 'isc-emulator', level: 'warn' });
  const strictResponses = options.strictResponses ?? true;
  const latencyMs = options.latencyMs ?? 0;
  const contract = Contract.load();
  contract.compileAll();
  const state = new TenantState({ asyncDelayMs: options.asyncDelayMs ?? 100 });

  const admin = state.seedIdentity({
    alias: 'admin',
    email: 'admin@example.com',
    firstname: 'Tenant',
    lastname: 'Admin',
    capabilities: ['ORG_ADMIN'],
  });
  const clients = (
    options.clients ?? [
      { clientId: defaultClientId, clientSecret: randomBytes(24).toString('hex') },
    ]
  ).map((client) => ({ ...client, identityId: client.identityId ?? admin.id }));
  for (const client of clients) {
    if (!state.identities.has(client.identityId)) {
      state.seedIdentity({
        id: client.identityId,
        alias: `user-${client.clientId}`,
        email: `${client.clientId}@example.com`,
        firstname: 'Emulated',
        lastname: client.clientId,
        capabilities: [],
      });
    }
    seedPersonalAccessToken(state, {
      id: client.clientId,
      secret: client.clientSecret,
      name: `emulator seed ${client.clientId}`,
      scope: null,
      ownerId: client.identityId,
      accessTokenValiditySeconds: options.tokenTtlSeconds ?? defaultAccessTokenValiditySeconds,
      expirationDate: null,
      userAwareTokenNeverExpires: true,
    });
  }

  const authority = new TokenAuthority({
    tenant: { tenantId: randomUUID(), org: 'emulator', pod: 'local' },
    resolveClient: (clientId) => {
      const token = state.personalAccessTokens.get(clientId);
      if (!token) return undefined;
      return {
        clientId: token.id,
        clientSecret: token.secret,
        identityId: token.ownerId,
        accessTokenValiditySeconds: token.accessTokenValiditySeconds,
        expirationDate: token.expirationDate,
      };
    },
  });
  const router = new Router([
    ...createOauthRoutes(authority, (identityId) => {
      const record = state.identities.get(identityId);
      if (!record) return undefined;
      return { userName: record.identity.alias, authorities: [...record.capabilities] };
    }),
    ...sourceRoutes,
    ...accountRoutes,
    ...identityProfileRoutes,
    ...identityRoutes,
    ...taskRoutes,
    ...accessRoutes,
  ]);

  const rateLimiter = options.rateLimit ? new RateLimiter(options.rateLimit) : null;
  const calls: CallRecord[] = [];
  const contractViolations: ContractViolation[] = [];

  function checkResponse(route: Route, path: string, response: RouteResponse): void {
    if (gatewayStatuses.has(response.status)) return;
    const problems = contract.validateResponse(
      route.operationId,
      response.status,
      response.contentType ?? 'application/json',
      response.body,
    );
    if (problems.length === 0) return;
    const violation = {
      operationId: route.operationId,
      method: route.method,
      path,
      status: response.status,
      problems,
    };
    contractViolations.push(violation);
    if (strictResponses) logger.error({ violation }, 'emulator response breaks the ISC contract');
    else logger.debug({ violation }, 'emulator response breaks the ISC contract');
  }

  /** Parses and validates the request body against the operation's declared media types. */
  async function parseBody(route: Route, request: IncomingMessage, raw: Buffer): Promise<unknown> {
    const declared = contract.operation(route.operationId).requestBody;
    if (!declared) return null;
    if (raw.length === 0) {
      if (route.bodyOptional || !declared.required) return null;
      throw badRequest('The request body is required.');
    }
    const mediaType = mediaTypeOf(request);
    const accepted = Object.keys(declared.content);
    if (!accepted.includes(mediaType)) {
      throw unsupportedMediaType(mediaType, accepted.join('" or "'));
    }
    let body: unknown;
    if (jsonMediaTypes.has(mediaType)) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        throw badRequest(`The request body is not valid JSON: ${(error as Error).message}.`);
      }
    } else if (mediaType === 'multipart/form-data') {
      body = await parseMultipart(raw, request.headers['content-type'] ?? '');
    } else {
      body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    }
    const issues = contract.validateRequest(route.operationId, mediaType, body);
    if (issues.length > 0) throw badRequest(...issues.map(describeIssue));
    return body;
  }

  async function handleApi(
    request: IncomingMessage,
    url: URL,
    record: CallRecord,
  ): Promise<{ route: Route | null; response: RouteResponse }> {
    const method = request.method ?? 'GET';
    const apiPath = normalizeApiPath(url.pathname);
    const match =
      apiPath === undefined ? { kind: 'not-found' as const } : router.match(method, apiPath);
    if (match.kind === 'not-found') {
      const error = routeNotFound(method, url.pathname);
      return { route: null, response: { status: error.status, body: error.body } };
    }
    if (match.kind === 'method-not-allowed') {
      const error = methodNotAllowed(method, url.pathname);
      return {
        route: null,
        response: {
          status: error.status,
          body: error.body,
          headers: { Allow: match.allowed.join(', ') },
        },
      };
    }

    const { route, params } = match;
    try {
      let claims: TokenClaims | null = null;
      if (route.requiresToken) {
        claims = authority.verifyAuthorization(request.headers.authorization);
        record.clientId = claims.client_id;
        rateLimiter?.admit(`${claims.client_id} ${apiFamily(url.pathname)}`);
      }
      const raw = await readBody(request);
      const body = await parseBody(route, request, raw);
      if (!route.requiresToken) {
        record.clientId =
          url.searchParams.get('client_id') ??
          (body as Record<string, string> | null)?.client_id ??
          null;
      }
      return {
        route,
        response: route.handle({
          params,
          query: url.searchParams,
          headers: request.headers,
          body,
          claims,
          state,
        }),
      };
    } catch (error) {
      if (error instanceof IscHttpError) {
        return {
          route,
          response: { status: error.status, body: error.body, headers: error.headers },
        };
      }
      logger.error({ err: error, operationId: route.operationId }, 'emulator handler failed');
      const body = errorResponse('500.0 Internal Fault', [
        `The emulator failed: ${(error as Error).message}`,
      ]);
      return { route, response: { status: 500, body } };
    }
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = new URL(request.url ?? '/', 'http://emulator.invalid');
    if (url.pathname.startsWith('/__admin/')) {
      handleAdminRequest(request, url, response, { state, calls, contractViolations });
      return;
    }
    if (latencyMs > 0) await sleep(latencyMs);

    const record: CallRecord = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: queryRecord(url.searchParams),
      status: 0,
      durationMs: 0,
      clientId: null,
    };
    const { route, response: result } = await handleApi(request, url, record);
    if (route) checkResponse(route, url.pathname, result);

    const headers: Record<string, string> = { ...result.headers };
    let payload: string | undefined;
    if (result.contentType !== undefined) {
      payload = String(result.body ?? '');
      headers['Content-Type'] = `${result.contentType};charset=utf-8`;
    } else if (result.body !== undefined) {
      payload = JSON.stringify(result.body);
      headers['Content-Type'] = 'application/json;charset=utf-8';
    }
    response.writeHead(result.status, headers);
    response.end(payload);

    record.status = result.status;
    record.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    calls.push(record);
    logger.debug(record, 'emulator request');
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      logger.error({ err: error }, 'emulator request failed');
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '::1' ? '[::1]' : host;
  logger.info({ host, port }, 'ISC emulator listening');

  return {
    url: `http://${urlHost}:${port}`,
    port,
    state,
    clients,
    adminIdentityId: admin.id,
    calls,
    contractViolations,
    clearCalls: () => {
      calls.length = 0;
    },
    close: async () => {
      state.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      logger.info({ port }, 'ISC emulator stopped');
    },
  };
}
