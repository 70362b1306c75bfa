// The ISC gateway's default rate limit: 100 requests per 10 seconds per client_id and per API
// version (developer.sailpoint.com/docs/api/rate-limit). Excess requests get 429 with Retry-After.

import { IscHttpError } from './errors.ts';

export interface RateLimitOptions {
  requests: number;
  windowMs: number;
}

export const iscDefaultRateLimit: RateLimitOptions = { requests: 100, windowMs: 10_000 };

/** Requests of one client id in one API family that the limiter admitted and rejected. */
export interface RateLimitCount {
  clientId: string;
  /** API version family, for example `v2025`, `accounts/v1` or `oauth/token`. */
  family: string;
  admitted: number;
  limited: number;
}

/** Sliding-window request log per client id and API version family. */
export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #requests = new Map<string, number[]>();
  readonly #counts = new Map<string, RateLimitCount>();
  readonly #now: () => number;

  constructor(options: RateLimitOptions, now: () => number = Date.now) {
    this.#options = options;
    this.#now = now;
  }

  /** Records a request, or raises a 429 IscHttpError when the client's window is full. */
  admit(clientId: string, family: string): void {
    const key = `${clientId} ${family}`;
    let count = this.#counts.get(key);
    if (!count) {
      count = { clientId, family, admitted: 0, limited: 0 };
      this.#counts.set(key, count);
    }
    const now = this.#now();
    const windowStart = now - this.#options.windowMs;
    const times = (this.#requests.get(key) ?? []).filter((time) => time > windowStart);
    if (times.length >= this.#options.requests) {
      const retryAfterSeconds = Math.max(1, Math.ceil((times[0]! - windowStart) / 1000));
      this.#requests.set(key, times);
      count.limited++;
      throw new IscHttpError(
        429,
        { message: ' Rate Limit Exceeded ' },
        `rate limit exceeded for client ${clientId} on ${family}`,
        { 'Retry-After': String(retryAfterSeconds) },
      );
    }
    times.push(now);
    this.#requests.set(key, times);
    count.admitted++;
  }

  /** Returns a copy of the counts since the limiter started. */
  counts(): RateLimitCount[] {
    return [...this.#counts.values()].map((count) => ({ ...count }));
  }
}
