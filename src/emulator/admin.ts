// Admin API of the emulator under /__admin/, without authentication but for loopback clients
// only. Tests and the demo read the call log, state and metrics here, set faults, and stand in for
// the steps a person does in the ISC UI: registering from the invitation mail and creating a first
// PAT.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { completeRegistration, createPersonalAccessToken } from './access.ts';
import type { TenantClock } from './clock.ts';
import { IscHttpError } from './errors.ts';
import { type FaultInjector, parseFaults } from './faults.ts';
import type { EmulatorMetrics } from './metrics.ts';
import type { RateLimitCount } from './rate-limit.ts';
import { readBody } from './request-body.ts';
import type { CallRecord, ContractViolation } from './server.ts';
import type { TenantState } from './state.ts';

export interface AdminContext {
  state: TenantState;
  calls: CallRecord[];
  contractViolations: ContractViolation[];
  faults: FaultInjector;
  metrics: EmulatorMetrics;
  rateLimitCounts: () => RateLimitCount[];
  clock: TenantClock;
  /** Every access token issued so far. */
  issuedAccessTokens: () => readonly string[];
}

const registrationPath = /^\/__admin\/identities\/([^/]+)\/register$/;
const userTokenPath = /^\/__admin\/identities\/([^/]+)\/personal-access-tokens$/;

function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function send(response: ServerResponse, status: number, body?: unknown): void {
  response.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
  response.end(body === undefined ? undefined : JSON.stringify(body));
}

/** Replaces the faults from a JSON body; an invalid configuration gets 400 with the reason. */
async function putFaults(
  request: IncomingMessage,
  response: ServerResponse,
  faults: FaultInjector,
): Promise<void> {
  let configuration: unknown;
  try {
    const raw = await readBody(request);
    configuration = JSON.parse(raw.toString('utf8') || '{}');
    faults.set(parseFaults(configuration));
  } catch (error) {
    send(response, 400, { error: (error as Error).message });
    return;
  }
  send(response, 200, faults.get());
}

/** Moves the tenant clock forward by the JSON body's `advanceMs`; an invalid body gets 400. */
async function advanceClock(
  request: IncomingMessage,
  response: ServerResponse,
  clock: TenantClock,
): Promise<void> {
  try {
    const raw = await readBody(request);
    const body = JSON.parse(raw.toString('utf8') || '{}') as { advanceMs?: unknown };
    if (typeof body.advanceMs !== 'number') {
      throw new Error('The body must be {"advanceMs": <milliseconds>}.');
    }
    clock.advance(body.advanceMs);
  } catch (error) {
    send(response, 400, { error: (error as Error).message });
    return;
  }
  send(response, 200, { now: clock.nowIso() });
}

/** Serves one /__admin/ request; unknown admin paths get 404. */
export async function handleAdminRequest(
  request: IncomingMessage,
  url: URL,
  response: ServerResponse,
  context: AdminContext,
): Promise<void> {
  if (!isLoopbackAddress(request.socket.remoteAddress)) {
    send(response, 403, { error: 'admin endpoints accept loopback clients only' });
    return;
  }
  const { state, calls } = context;
  const key = `${request.method} ${url.pathname}`;
  if (key === 'GET /__admin/calls') {
    send(response, 200, calls);
    return;
  }
  if (key === 'DELETE /__admin/calls') {
    calls.length = 0;
    send(response, 204);
    return;
  }
  if (key === 'GET /__admin/state') {
    send(response, 200, state.snapshot());
    return;
  }
  if (key === 'GET /__admin/contract-violations') {
    send(response, 200, context.contractViolations);
    return;
  }
  if (key === 'GET /__admin/faults') {
    send(response, 200, context.faults.get());
    return;
  }
  if (key === 'PUT /__admin/faults') {
    await putFaults(request, response, context.faults);
    return;
  }
  if (key === 'DELETE /__admin/faults') {
    context.faults.set({});
    send(response, 204);
    return;
  }
  if (key === 'GET /__admin/rate-limit') {
    send(response, 200, context.rateLimitCounts());
    return;
  }
  if (key === 'GET /__admin/issued-secrets') {
    send(response, 200, {
      clientSecrets: [...state.issuedClientSecrets],
      accessTokens: context.issuedAccessTokens(),
    });
    return;
  }
  if (key === 'GET /__admin/clock') {
    send(response, 200, { now: context.clock.nowIso() });
    return;
  }
  if (key === 'POST /__admin/clock') {
    await advanceClock(request, response, context.clock);
    return;
  }
  if (key === 'GET /__admin/metrics') {
    const text = await context.metrics.text();
    response.writeHead(200, { 'Content-Type': context.metrics.contentType });
    response.end(text);
    return;
  }

  const registration = request.method === 'POST' ? registrationPath.exec(url.pathname) : null;
  if (registration) {
    const id = decodeURIComponent(registration[1]!);
    if (!state.identities.has(id)) {
      send(response, 404, { error: `identity ${id} was not found` });
      return;
    }
    try {
      completeRegistration(state, id);
    } catch (error) {
      if (!(error instanceof IscHttpError)) throw error;
      send(response, error.status, error.body);
      return;
    }
    send(response, 204);
    return;
  }

  const userToken = request.method === 'POST' ? userTokenPath.exec(url.pathname) : null;
  if (userToken) {
    const id = decodeURIComponent(userToken[1]!);
    const name = url.searchParams.get('name') ?? `bootstrap-${Date.now()}`;
    try {
      const token = createPersonalAccessToken(state, id, {
        name,
        userAwareTokenNeverExpires: true,
      });
      send(response, 201, { id: token.id, secret: token.secret, name: token.name, ownerId: id });
    } catch (error) {
      if (!(error instanceof IscHttpError)) throw error;
      send(response, error.status, error.body);
    }
    return;
  }

  send(response, 404, { error: `no admin endpoint ${key}` });
}
