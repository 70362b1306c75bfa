// Fault injection: errors, added latency, dropped connections, tokens that expire early and slow
// tasks, so that clients can be tested against the failures a real tenant and its gateway show.
// Choices come from a seedable random source, so a sequential client that sends the same requests
// after setting the same seed receives the same faults.

import { STATUS_CODES } from 'node:http';
import { Ajv } from 'ajv';
import { errorResponse } from './errors.ts';
import { SeededRandom } from './random.ts';
import type { RouteResponse } from './route.ts';

export const faultStatuses = [429, 500, 502, 503, 504] as const;
export type FaultStatus = (typeof faultStatuses)[number];

/** Selector of the requests a fault rule applies to. Each given field must match. */
export interface RequestSelector {
  /** operationId in SailPoint's spec, for example `createAccount` or `createOauthToken`. */
  operation?: string;
  /**
   * Path without the version prefix, where `*` matches within one segment and `**` across
   * segments: `/accounts/*` matches `/v2025/accounts/{id}` and `/accounts/v1/{id}`.
   */
  path?: string;
  /** HTTP method, for example `POST`. */
  method?: string;
}

/**
 * Body of an injected error: an `ErrorResponseDto`, a bare `{"detailMessage": ...}` object, an
 * HTML page from the gateway, or none.
 */
export const faultBodies = ['error-response', 'detail-message', 'html', 'empty'] as const;
export type FaultBody = (typeof faultBodies)[number];

export interface ErrorFault extends RequestSelector {
  status: FaultStatus;
  /** Share of matching requests that fail, from 0 to 1. Default 1. */
  rate?: number;
  /** Retry-After of a 429 in seconds. Default 1. */
  retryAfterSeconds?: number;
  /**
   * Body shape in place of the status's usual one: `{"message": " Rate Limit Exceeded "}` for
   * 429, error-response for 500, html for 502 and 504, empty for 503.
   */
  body?: FaultBody;
}

export interface DropFault extends RequestSelector {
  /**
   * `before`: the connection closes before the operation runs. `after`: the operation runs and
   * its change is kept, then the connection closes without a response.
   */
  phase: 'before' | 'after';
  /** Share of matching requests that are dropped, from 0 to 1. Default 1. */
  rate?: number;
}

export interface LatencyFault extends RequestSelector {
  fixedMs?: number;
  /** Upper bound of a uniformly drawn extra delay. */
  jitterMs?: number;
}

export const taskKinds = ['accountCreate', 'loadAccounts', 'identityProcessing'] as const;
export type TaskKind = (typeof taskKinds)[number];

/** Task names (TaskStatus uniqueName) of each task kind that `taskDelayMs` can slow down. */
export const taskNamesByKind: Record<TaskKind, string> = {
  accountCreate: 'Account Create',
  loadAccounts: 'Cloud Account Aggregation',
  identityProcessing: 'Identity Refresh',
};

export interface EmulatorFaults {
  /** Restarts the fault random source with this seed when the faults are set. */
  seed?: number;
  /** Error responses; the first rule that fires wins. */
  errors?: ErrorFault[];
  /** Connections closed without a response; checked before `errors` (phase before) and after. */
  drops?: DropFault[];
  /** Delays before the response; every matching rule adds its delay. */
  latency?: LatencyFault[];
  /**
   * Number of bearer tokens that fail with 401 "JWT is expired" from their next use on, counted
   * as they are presented, or `all` for every token. A token once failed stays expired.
   */
  expireTokens?: number | 'all';
  /** Delay of asynchronous tasks by kind in milliseconds, in place of asyncDelayMs. */
  taskDelayMs?: Partial<Record<TaskKind, number>>;
}

const selectorProperties = {
  operation: { type: 'string', minLength: 1 },
  path: { type: 'string', pattern: '^/' },
  method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
};
const rateSchema = { type: 'number', minimum: 0, maximum: 1 };
const faultsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['status'],
        properties: {
          ...selectorProperties,
          status: { enum: [...faultStatuses] },
          rate: rateSchema,
          retryAfterSeconds: { type: 'integer', minimum: 0 },
          body: { enum: [...faultBodies] },
        },
      },
    },
    drops: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['phase'],
        properties: {
          ...selectorProperties,
          phase: { enum: ['before', 'after'] },
          rate: rateSchema,
        },
      },
    },
    latency: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...selectorProperties,
          fixedMs: { type: 'integer', minimum: 0 },
          jitterMs: { type: 'integer', minimum: 0 },
        },
      },
    },
    expireTokens: { anyOf: [{ type: 'integer', minimum: 0 }, { const: 'all' }] },
    taskDelayMs: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        taskKinds.map((kind) => [kind, { type: 'integer', minimum: 0 }]),
      ),
    },
  },
};

const validateFaults = new Ajv({ allErrors: true }).compile(faultsSchema);

/** Checks a fault configuration from JSON and returns it typed, or raises an Error naming the field. */
export function parseFaults(value: unknown): EmulatorFaults {
  if (validateFaults(value)) return value as EmulatorFaults;
  const problems = (validateFaults.errors ?? []).map((error) => {
    const allowed = error.params.allowedValues as unknown[] | undefined;
    const suffix = allowed ? ` (${allowed.join(', ')})` : '';
    return `${error.instancePath || '(root)'} ${error.message}${suffix}`;
  });
  throw new Error(`Invalid fault configuration: ${problems.join('; ')}.`);
}

/** A request as the fault rules see it. */
export interface FaultRequest {
  method: string;
  /** Path without the version prefix, or the raw path when no API family serves it. */
  apiPath: string;
  operationId: string | null;
}

/** Decision of the injector for one request, made before any of its work runs. */
export interface FaultPlan {
  delayMs: number;
  /** Drop before the operation, respond with an error in its place, or drop after it. */
  outcome:
    | { kind: 'none' }
    | { kind: 'drop-before' }
    | { kind: 'drop-after' }
    | { kind: 'error'; fault: ErrorFault };
}

function globToRegExp(glob: string): RegExp {
  const source = glob
    .split(/(\*\*|\*)/)
    .map((part) => {
      if (part === '**') return '.*';
      if (part === '*') return '[^/]*';
      return part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

function selects(selector: RequestSelector, request: FaultRequest): boolean {
  if (selector.method !== undefined && selector.method !== request.method) return false;
  if (selector.operation !== undefined && selector.operation !== request.operationId) return false;
  if (selector.path !== undefined && !globToRegExp(selector.path).test(request.apiPath)) {
    return false;
  }
  return true;
}

/** Holds the active faults and makes the per-request choices from the seeded random source. */
export class FaultInjector {
  #faults: EmulatorFaults = {};
  #random: SeededRandom;
  #expireRemaining: number | 'all' = 0;
  readonly #expiredTokenIds = new Set<string>();

  constructor(seed: number, faults: EmulatorFaults = {}) {
    this.#random = new SeededRandom(seed);
    this.set(faults);
  }

  /** Replaces every fault; a `seed` in `faults` restarts the random source. */
  set(faults: EmulatorFaults): void {
    this.#faults = structuredClone(parseFaults(faults));
    if (faults.seed !== undefined) this.#random = new SeededRandom(faults.seed);
    this.#expireRemaining = faults.expireTokens ?? 0;
  }

  /** Returns the active faults, with the count of tokens still to expire. */
  get(): EmulatorFaults {
    const faults = structuredClone(this.#faults);
    if (faults.expireTokens !== undefined) faults.expireTokens = this.#expireRemaining;
    return faults;
  }

  /**
   * Decides latency and outcome for one request. Every matching rule draws a number whether or
   * not an earlier one fired, so one rule's hit does not shift the draws of the others.
   */
  plan(request: FaultRequest): FaultPlan {
    let delayMs = 0;
    for (const rule of this.#faults.latency ?? []) {
      if (!selects(rule, request)) continue;
      const jitter = rule.jitterMs ? this.#random.next() * rule.jitterMs : 0;
      delayMs += (rule.fixedMs ?? 0) + jitter;
    }
    const fires = (rule: { rate?: number }) => this.#random.next() < (rule.rate ?? 1);

    let dropBefore = false;
    let dropAfter = false;
    let error: ErrorFault | undefined;
    for (const rule of this.#faults.drops ?? []) {
      if (!selects(rule, request) || !fires(rule)) continue;
      if (rule.phase === 'before') dropBefore = true;
      else dropAfter = true;
    }
    for (const rule of this.#faults.errors ?? []) {
      if (selects(rule, request) && fires(rule)) error ??= rule;
    }

    delayMs = Math.round(delayMs);
    if (dropBefore) return { delayMs, outcome: { kind: 'drop-before' } };
    if (error) return { delayMs, outcome: { kind: 'error', fault: error } };
    if (dropAfter) return { delayMs, outcome: { kind: 'drop-after' } };
    return { delayMs, outcome: { kind: 'none' } };
  }

  /** Returns true when the token with this JWT id must fail as expired, and counts it. */
  expiresToken(tokenId: string): boolean {
    if (this.#expiredTokenIds.has(tokenId)) return true;
    if (this.#expireRemaining === 'all') {
      this.#expiredTokenIds.add(tokenId);
      return true;
    }
    if (this.#expireRemaining > 0) {
      this.#expireRemaining--;
      this.#expiredTokenIds.add(tokenId);
      return true;
    }
    return false;
  }

  /** Returns the delay override for a task, by its TaskStatus uniqueName, if one is set. */
  taskDelayMs(taskName: string): number | undefined {
    const overrides = this.#faults.taskDelayMs ?? {};
    for (const kind of taskKinds) {
      if (taskNamesByKind[kind] === taskName && overrides[kind] !== undefined) {
        return overrides[kind];
      }
    }
    return undefined;
  }
}

const gatewayPages: Partial<Record<FaultStatus, string>> = {
  502: 'Bad Gateway',
  504: 'Gateway Time-out',
};

function htmlPage(status: FaultStatus): string {
  const title = `${status} ${gatewayPages[status] ?? STATUS_CODES[status]}`;
  return `<html>\n<head><title>${title}</title></head>\n<body>\n<center><h1>${title}</h1></center>\n</body>\n</html>\n`;
}

/** Builds the body of an injected error in the given shape. */
function faultBody(status: FaultStatus, shape: FaultBody): RouteResponse {
  switch (shape) {
    case 'error-response': {
      const detailCode =
        status === 500 ? '500.0 Internal Fault' : `${status} ${STATUS_CODES[status]}`;
      return { status, body: errorResponse(detailCode, ['An internal fault occurred.']) };
    }
    case 'detail-message':
      return { status, body: { detailMessage: `${status} ${STATUS_CODES[status]}` } };
    case 'html':
      return { status, contentType: 'text/html', body: htmlPage(status) };
    case 'empty':
      return { status };
  }
}

/**
 * Builds the response of an injected error in the shape a client meets in front of ISC: by
 * default the documented 429 and 500 bodies, an HTML page from the gateway for 502 and 504, and
 * an empty 503. A rule's `body` replaces that shape, and a 429 keeps its Retry-After either way.
 */
export function faultResponse(fault: ErrorFault): RouteResponse {
  if (fault.status === 429) {
    const headers = { 'Retry-After': String(fault.retryAfterSeconds ?? 1) };
    if (fault.body !== undefined) return { ...faultBody(429, fault.body), headers };
    return { status: 429, body: { message: ' Rate Limit Exceeded ' }, headers };
  }
  const usual: Record<Exclude<FaultStatus, 429>, FaultBody> = {
    500: 'error-response',
    502: 'html',
    503: 'empty',
    504: 'html',
  };
  return faultBody(fault.status, fault.body ?? usual[fault.status]);
}
