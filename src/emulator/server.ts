// HTTP server of the ISC emulator: a loopback-only stand-in for an Identity Security Cloud tenant.
// It routes requests, checks tokens, validates request and response bodies against SailPoint's
// published OpenAPI contract, injects the configured faults, and records every call for tests and
// benchmarks.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { allScopes, tokenScope } from './access.ts';
import { handleAdminRequest } from './admin.ts';
import { type ClientCredential, TokenAuthority, type TokenClaims } from './auth.ts';
import { TenantClock } from './clock.ts';
import { consistentListPolicy, type ListPolicy } from './collection.ts';
import { Contract } from './contract.ts';
import {
  badRequest,
  errorResponse,
  forbidden,
  IscHttpError,
  internalFault,
  methodNotAllowed,
  routeNotFound,
  unauthorized,
  unsupportedMediaType,
} from './errors.ts';
import { type EmulatorFaults, FaultInjector, faultResponse } from './faults.ts';
import type { EmulatorFixtures } from './fixtures.ts';
import { EmulatorMetrics } from './metrics.ts';
import { writeStateFile } from './persistence.ts';
import { randomSeed, SeededRandom } from './random.ts';
import { type RateLimitCount, RateLimiter, type RateLimitOptions } from './rate-limit.ts';
import {
  describeIssue,
  mediaTypeOf,
  parseMultipart,
  queryRecord,
  readBody,
} from './request-body.ts';
import type { Route, RouteResponse } from './route.ts';
import { apiFamily, normalizeApiPath, type RouteMatch, Router } from './router.ts';
import { accessRoutes } from './routes/access.ts';
import { accountRoutes } from './routes/accounts.ts';
import { identityRoutes } from './routes/identities.ts';
import { identityProfileRoutes } from './routes/identity-profiles.ts';
import { createOauthRoutes } from './routes/oauth.ts';
import { sourceRoutes } from './routes/sources.ts';
import { taskRoutes } from './routes/tasks.ts';
import { TenantState } from './state.ts';
import { setUpTenant } from './tenant-setup.ts';

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
  /** Lifetime of access tokens issued for the configured clients. Default 43200 (12 hours). */
  tokenTtlSeconds?: number;
  /** Delay added before every response, to imitate network and service latency. */
  latencyMs?: number;
  /**
   * Gateway rate limit per client id and API version family, the token endpoint included.
   * Default: off. Pass `iscDefaultRateLimit` for ISC's documented 100 requests per 10 seconds.
   */
  rateLimit?: RateLimitOptions | null;
  /** Seed of the random source behind faults and list order. Default: a random seed. */
  seed?: number;
  /** Faults active from the start; see RunningEmulator.setFaults. */
  faults?: EmulatorFaults;
  /**
   * Order of list responses without `sorters`: `shuffled` (default) serves a new seeded shuffle
   * per request, `insertion` the order in which the objects were created.
   */
  listOrder?: 'shuffled' | 'insertion';
  /** Time after creation during which objects are missing from list results (not from get). */
  listLagMs?: number;
  /** JSON file the tenant is read from on start, when it exists, and written to on close. */
  stateFile?: string;
  /** Identities, sources and accounts to create on start. Ignored when the state file exists. */
  fixtures?: EmulatorFixtures;
  /** Log every response that breaks the contract at error level (it is recorded either way). */
  strictResponses?: boolean;
  /**
   * Base clock of the time-based rules (token, PAT and invitation expiry, PAT scope delay), in
   * milliseconds since the Unix epoch. Default: Date.now. RunningEmulator.clock moves it forward.
   */
  now?: () => number;
  /**
   * Time after a PAT's scope change until new access tokens carry the new scopes. Default 0
   * (at once). ISC documents up to 20 minutes.
   */
  patScopeDelayMs?: number;
  /**
   * operationIds that respond with 500 instead of 403 to a token without a needed scope, as some
   * ISC endpoints do. Scopes are checked only for tokens without `sp:scopes:all`.
   */
  internalFaultOnMissingScope?: string[];
  logger?: Logger;
}

/** Fault applied to a call: an injected error, a dropped connection or an expired token. */
export type CallFault = 'error' | 'drop-before' | 'drop-after' | 'expired-token';

/** One handled request. Never contains a token or a client secret. */
export interface CallRecord {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  /** Response status, or 0 when the connection was dropped without a response. */
  status: number;
  /** Time the request arrived, in milliseconds since the Unix epoch. */
  startedAt: number;
  durationMs: number;
  clientId: string | null;
  /** operationId of the matched route, or null when no route matched. */
  operationId: string | null;
  /** Set when a configured fault changed the outcome. */
  fault?: CallFault;
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
  /** Clock of the time-based rules; `clock.advance(ms)` moves it forward. */
  clock: TenantClock;
  /** The accepted credentials, including generated secrets, for in-process callers. */
  clients: ClientCredential[];
  /** Identity id of the seeded ORG_ADMIN identity that owns the default client. */
  adminIdentityId: string;
  /** Seed of the random source, to repeat a run's faults and list order. */
  seed: number;
  calls: CallRecord[];
  contractViolations: ContractViolation[];
  clearCalls(): void;
  /** Replaces the active faults. Raises an Error naming the field of an invalid configuration. */
  setFaults(faults: EmulatorFaults): void;
  /** Removes every fault. Tokens that already failed as expired stay expired. */
  clearFaults(): void;
  /** Returns the active faults, with the count of tokens still to expire. */
  faults(): EmulatorFaults;
  /** Returns admitted and rejected request counts per client id and API family. */
  rateLimitCounts(): RateLimitCount[];
  /** Returns the Prometheus counters in text exposition format, as GET /__admin/metrics does. */
  metricsText(): Promise<string>;
  /** Stops the server and, with `stateFile`, completes pending tasks and writes the file. */
  close(): Promise<void>;
}

export const defaultClientId = 'isc-emulator-admin';

const loopbackHosts = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Statuses the gateway sends before an operation runs. The spec does not declare them per
 * operation, so responses with them are not checked against the operation's response list. The
 * emulator sends 502, 503 and 504 only as injected faults.
 */
const gatewayStatuses = new Set([405, 413, 415, 502, 503, 504]);

const jsonMediaTypes = new Set(['application/json', 'application/json-patch+json']);

/** Mixed into the seed for list order, so list requests do not shift the fault draws. */
const listOrderSeedMask = 0x5bd1e995;

function listPolicy(options: EmulatorOptions, seed: number): ListPolicy {
  const lagMs = options.listLagMs ?? 0;
  if ((options.listOrder ?? 'shuffled') === 'insertion') {
    return { ...consistentListPolicy, lagMs };
  }
  const random = new SeededRandom((seed ^ listOrderSeedMask) >>> 0);
  return { orderUnsorted: (items) => random.shuffle(items), lagMs };
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
  const seed = options.seed ?? randomSeed();
  const faults = new FaultInjector(seed, options.faults);
  const listing = listPolicy(options, seed);
  const metrics = new EmulatorMetrics();
  const contract = Contract.load();
  contract.compileAll();
  const clock = new TenantClock(options.now);
  const internalFaultOperations = new Set(options.internalFaultOnMissingScope ?? []);
  const state = new TenantState({
    asyncDelayMs: options.asyncDelayMs ?? 100,
    taskDelayMs: (taskName) => faults.taskDelayMs(taskName),
    clock,
    patScopeDelayMs: options.patScopeDelayMs,
  });

  const tenant = setUpTenant(state, {
    stateFile: options.stateFile,
    fixtures: options.fixtures,
    clients: options.clients ?? [
      { clientId: defaultClientId, clientSecret: randomBytes(24).toString('hex') },
    ],
    tokenTtlSeconds: options.tokenTtlSeconds,
  });
  if (tenant.restored) logger.info({ stateFile: options.stateFile }, 'emulator state restored');

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
        scope: tokenScope(token, clock.now()),
      };
    },
    now: () => clock.now(),
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

  /** Counts a request against the rate limit; raises the 429 IscHttpError when it is over. */
  function admitRateLimited(clientId: string, path: string): void {
    if (!rateLimiter) return;
    const family = apiFamily(path);
    try {
      rateLimiter.admit(clientId, family);
    } catch (error) {
      metrics.rateLimited.inc({ client_id: clientId, family });
      throw error;
    }
  }

  /**
   * Raises 403, or 500 for the operations in internalFaultOnMissingScope, when a token without
   * `sp:scopes:all` has none of the scopes the spec lists for the operation.
   */
  function checkScope(operationId: string, claims: TokenClaims): void {
    if (claims.scope.includes(allScopes)) return;
    const needed = contract.operation(operationId).scopes;
    if (needed.length === 0 || needed.some((scope) => claims.scope.includes(scope))) return;
    if (internalFaultOperations.has(operationId)) {
      throw internalFault('An internal fault occurred.');
    }
    throw forbidden(
      `The token lacks the scope for ${operationId}; it needs one of: ${needed.join(', ')}.`,
    );
  }

  /** Checks the bearer token, including the expired-token fault. */
  function verifyToken(request: IncomingMessage, record: CallRecord): TokenClaims {
    const claims = authority.verifyAuthorization(request.headers.authorization);
    record.clientId = claims.client_id;
    if (faults.expiresToken(claims.jti)) {
      record.fault = 'expired-token';
      throw unauthorized('JWT is expired');
    }
    return claims;
  }

  async function runOperation(
    request: IncomingMessage,
    url: URL,
    match: RouteMatch,
    record: CallRecord,
  ): Promise<{ route: Route | null; response: RouteResponse }> {
    const method = request.method ?? 'GET';
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
        claims = verifyToken(request, record);
        admitRateLimited(claims.client_id, url.pathname);
        checkScope(route.operationId, claims);
      }
      const raw = await readBody(request);
      const body = await parseBody(route, request, raw);
      if (!route.requiresToken) {
        record.clientId =
          url.searchParams.get('client_id') ??
          (body as Record<string, string> | null)?.client_id ??
          null;
        // The gateway limits the token endpoint too, keyed by the client id in the request.
        admitRateLimited(record.clientId ?? '', url.pathname);
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
          listing,
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

  function finish(record: CallRecord, started: number): void {
    record.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    calls.push(record);
    const operation = record.operationId ?? 'unknown';
    metrics.requests.inc({ operation, method: record.method, status: String(record.status) });
    if (record.fault) metrics.faults.inc({ kind: record.fault, operation });
    logger.debug(record, 'emulator request');
  }

  /** Closes the connection without a response, as a failing network or load balancer would. */
  function drop(response: ServerResponse, record: CallRecord, started: number): void {
    response.socket?.destroy();
    record.status = 0;
    finish(record, started);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const started = performance.now();
    const url = new URL(request.url ?? '/', 'http://emulator.invalid');
    if (url.pathname.startsWith('/__admin/')) {
      await handleAdminRequest(request, url, response, {
        state,
        calls,
        contractViolations,
        faults,
        metrics,
        rateLimitCounts: () => rateLimiter?.counts() ?? [],
        issuedAccessTokens: () => authority.issuedAccessTokens,
        clock,
      });
      return;
    }
    if (latencyMs > 0) await sleep(latencyMs);

    const method = request.method ?? 'GET';
    const apiPath = normalizeApiPath(url.pathname);
    const match: RouteMatch =
      apiPath === undefined ? { kind: 'not-found' } : router.match(method, apiPath);
    const record: CallRecord = {
      method,
      path: url.pathname,
      query: queryRecord(url.searchParams),
      status: 0,
      startedAt,
      durationMs: 0,
      clientId: null,
      operationId: match.kind === 'found' ? match.route.operationId : null,
    };
    const plan = faults.plan({
      method,
      apiPath: apiPath ?? url.pathname,
      operationId: record.operationId,
    });
    if (plan.delayMs > 0) await sleep(plan.delayMs);

    let result: RouteResponse;
    if (plan.outcome.kind === 'drop-before') {
      // The whole request arrives first, so the client cannot tell this from a drop after.
      await readBody(request).catch(() => undefined);
      record.fault = 'drop-before';
      drop(response, record, started);
      return;
    }
    if (plan.outcome.kind === 'error') {
      record.fault = 'error';
      result = faultResponse(plan.outcome.fault);
      request.resume();
    } else {
      const outcome = await runOperation(request, url, match, record);
      result = outcome.response;
      if (plan.outcome.kind === 'drop-after') {
        record.fault = 'drop-after';
        drop(response, record, started);
        return;
      }
    }
    // An injected error stands for the gateway or a failing service, whose bodies the operation's
    // contract does not describe, so only the operation's own responses are checked.
    if (match.kind === 'found' && record.fault !== 'error') {
      checkResponse(match.route, url.pathname, result);
    }

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
    finish(record, started);
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
  logger.info({ host, port, seed }, 'ISC emulator listening');

  return {
    url: `http://${urlHost}:${port}`,
    port,
    state,
    clock,
    clients: tenant.clients,
    adminIdentityId: tenant.adminIdentityId,
    seed,
    calls,
    contractViolations,
    clearCalls: () => {
      calls.length = 0;
    },
    setFaults: (next) => faults.set(next),
    clearFaults: () => faults.set({}),
    faults: () => faults.get(),
    rateLimitCounts: () => rateLimiter?.counts() ?? [],
    metricsText: () => metrics.text(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (options.stateFile) {
        state.flushPendingWork();
        writeStateFile(options.stateFile, state, tenant.adminIdentityId);
        logger.info({ stateFile: options.stateFile }, 'emulator state saved');
      }
      state.close();
      logger.info({ port }, 'ISC emulator stopped');
    },
  };
}
