/**
 * Client-side rate limiter: at most `limit` requests in any window of `windowMs`. ISC's gateway
 * allows 100 requests per 10 seconds per client id and API version and returns 429 beyond that,
 * so one limiter is shared by every caller of one credential.
 *
 * The gateway counts a request when it arrives, which the client cannot observe: a request may
 * arrive long after it left (connection set-up, a busy event loop). So a request keeps its slot
 * from `acquire` until `windowMs` after its response, which keeps every window of arrivals
 * within the limit at the cost of a little throughput.
 */
export class SlidingWindowLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private inFlight = 0;
  /** When finished requests leave the window, ascending. */
  private releases: number[] = [];
  private pausedUntil = 0;
  private readonly waiters: Array<(release: () => void) => void> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(limit: number, windowMs: number) {
    if (!(limit > 0) || !(windowMs > 0)) {
      throw new Error(`invalid rate limit ${limit} per ${windowMs} ms: both must be positive`);
    }
    this.limit = limit;
    this.windowMs = windowMs;
  }

  /** Number of callers waiting for a slot. */
  get queueDepth(): number {
    return this.waiters.length;
  }

  /**
   * Resolves when the caller may send one request, with a function to call once its response
   * (or failure) arrived. A slot whose release is never called stays taken.
   */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.drain();
    });
  }

  /** Blocks new requests for `delayMs`, after the server returned 429 with Retry-After. */
  pause(delayMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
    this.schedule(delayMs);
  }

  private release(): void {
    this.inFlight--;
    this.releases.push(Date.now() + this.windowMs);
    this.drain();
  }

  private drain(): void {
    const now = Date.now();
    while (this.releases.length > 0 && this.releases[0]! <= now) this.releases.shift();
    if (now < this.pausedUntil) {
      this.schedule(this.pausedUntil - now);
      return;
    }

    while (this.waiters.length > 0 && this.inFlight + this.releases.length < this.limit) {
      this.inFlight++;
      let released = false;
      this.waiters.shift()!(() => {
        if (released) return;
        released = true;
        this.release();
      });
    }
    if (this.waiters.length > 0 && this.releases.length > 0) {
      this.schedule(this.releases[0]! - now);
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      Math.max(delayMs, 1),
    );
  }
}
