// The manual API procedure automated naively: one request at a time, no client-side rate
// limiting, and a wait of Retry-After seconds after each 429.

import { pino } from 'pino';
import { TenantSetup } from '../src/controller/tenant.ts';
import type { RunningEmulator } from '../src/emulator/server.ts';
import { IscApi } from '../src/isc/api.ts';
import { IscClient } from '../src/isc/client.ts';
import { type CallCounts, countCalls, rateLimitFloorSeconds } from './metrics.ts';

export interface BaselineResult {
  n: number;
  calls: CallCounts;
  callsPerAccount: number;
  /** From the first request to the moment every account has an identity, in seconds. */
  secondsToAllIdentities: number;
  rateLimitFloorSeconds: number;
  /** Calls of the one-time source and profile setup, made before the timed part and not counted. */
  setupCalls: number;
}

export const baselineClient = {
  clientId: 'bench-baseline',
  clientSecret: `bl-${crypto.randomUUID()}`,
};
export const baselineSetupClient = {
  clientId: 'bench-baseline-setup',
  clientSecret: `bs-${crypto.randomUUID()}`,
};

const sourceName = 'Service Accounts';

/**
 * Runs the naive procedure for `n` new accounts against a fresh emulator: list the sources, list
 * the source's accounts, then for each account one create request and one process-identities
 * request. Resolves once every account has an identity or `timeoutMs` passed (then it throws).
 */
export async function runBaseline(
  emulator: RunningEmulator,
  n: number,
  timeoutMs: number,
): Promise<BaselineResult> {
  // Source, schema and profile are the one-time setup a person does in the UI; the operator's
  // equivalent calls are counted, but they do not grow with N.
  const setup = new TenantSetup(
    new IscApi(
      new IscClient({
        baseUrl: emulator.url,
        ...baselineSetupClient,
        logger: pino({ level: 'silent' }),
      }),
    ),
    {
      sourceName,
      identityProfileName: 'Service Accounts',
      cacheTtlMs: 0,
      identityProcessingIntervalMs: 0,
    },
    pino({ level: 'silent' }),
  );
  const { identityProfile } = await setup.ensure();
  const setupCalls = emulator.calls.length;
  emulator.clearCalls();

  const started = Date.now();
  const deadline = started + timeoutMs;
  const call = async (
    method: string,
    path: string,
    init: { token?: string; body?: unknown; form?: URLSearchParams } = {},
  ) => {
    for (;;) {
      if (Date.now() > deadline)
        throw new Error(`baseline timed out after ${timeoutMs} ms at ${method} ${path}`);
      const headers: Record<string, string> = {};
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${emulator.url}${path}`, {
        method,
        headers,
        body: init.form ?? (init.body === undefined ? undefined : JSON.stringify(init.body)),
      });
      if (response.status === 429) {
        await response.arrayBuffer();
        const seconds = Number(response.headers.get('retry-after') ?? '1');
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
        continue;
      }
      if (!response.ok) {
        throw new Error(
          `baseline ${method} ${path} failed with ${response.status}: ${await response.text()}`,
        );
      }
      return response.json() as Promise<unknown>;
    }
  };

  const token = (
    (await call('POST', '/oauth/token', {
      form: new URLSearchParams({ grant_type: 'client_credentials', ...toForm(baselineClient) }),
    })) as { access_token: string }
  ).access_token;
  const sources = (await call(
    'GET',
    `/v2025/sources?filters=${encodeURIComponent(`name eq "${sourceName}"`)}`,
    { token },
  )) as Array<{ id: string }>;
  const sourceId = sources[0]!.id;
  for (let offset = 0; ; offset += 250) {
    const page = (await call(
      'GET',
      `/v2025/accounts?limit=250&offset=${offset}&sorters=id&filters=${encodeURIComponent(`sourceId eq "${sourceId}"`)}`,
      { token },
    )) as unknown[];
    if (page.length < 250) break;
  }
  for (let i = 0; i < n; i++) {
    const id = `BASE-${String(i).padStart(5, '0')}`;
    await call('POST', '/v2025/accounts', {
      token,
      body: {
        attributes: {
          sourceId,
          id,
          name: `base-${i}`,
          'e-mail': `base-${i}@example.com`,
          purpose: 'benchmark baseline',
        },
      },
    });
    await call('POST', `/v2025/identity-profiles/${identityProfile.id}/process-identities`, {
      token,
    });
  }

  // Completion is read from the emulator's memory, not through the API, so it costs no calls.
  for (;;) {
    const accounts = [...emulator.state.accounts.values()].filter((a) => a.sourceId === sourceId);
    if (accounts.length >= n && accounts.every((a) => a.identityId !== null)) break;
    if (Date.now() > deadline)
      throw new Error(`baseline identities incomplete after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const secondsToAllIdentities = (Date.now() - started) / 1000;
  const calls = emulator.calls.filter((c) => c.clientId === baselineClient.clientId);
  const counts = countCalls(calls);
  return {
    n,
    calls: counts,
    callsPerAccount: counts.total / n,
    secondsToAllIdentities,
    rateLimitFloorSeconds: rateLimitFloorSeconds(calls),
    setupCalls,
  };
}

function toForm(client: { clientId: string; clientSecret: string }) {
  return { client_id: client.clientId, client_secret: client.clientSecret };
}
