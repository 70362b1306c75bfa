// The ISC gateway's default rate limit: 100 requests per 10 seconds per client_id and per API
// version (developer.sailpoint.com/docs/api/rate-limit). Excess requests get 429 with Retry-After.

import { IscHttpError } from './errors.ts';

export interface RateLimitOptions {
  requests: number;
  windowMs: number;
}

export const iscDefaultRateLimit: RateLimitOptions = { requests: 100, windowMs: 10_000 };

/** Sliding-window request log per key, where a key is a client id plus an API version family. */
export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #requests = new Map<string, number[]>();
  readonly #now: () => number;

  constructor(options: RateLimitOptions, now: () => number = Date.now) {
    this.#options = options;
    this.#now = now;
  }

  /** Records a request for `key`, or raises a 429 IscHttpError when the window is full. */
  admit(key: string): void {
    const now = this.#now();
    const windowStart = now - this.#options.windowMs;
    const times = (this.#requests.get(key) ?? []).filter((time) => time > windowStart);
    if (times.length >= this.#options.requests) {
      const retryAfterSeconds = Math.max(1, Math.ceil((times[0]! - windowStart) / 1000));
      this.#requests.set(key, times);
      throw new IscHttpError(
        429,
        { message: ' Rate Limit Exceeded ' },
        `rate limit exceeded for ${key}`,
        { 'Retry-After': String(retryAfterSeconds) },
      );
    }
    times.push(now);
    this.#requests.set(key, times);
  }
}
