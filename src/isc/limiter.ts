/**
 * Client-side rate limiter: at most `limit` request starts in any sliding window of `windowMs`.
 * ISC's gateway allows 100 requests per 10 seconds per client id and API version and answers
 * 429 beyond that, so one limiter is shared by every caller of one credential.
 */
export class SlidingWindowLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private starts: number[] = [];
  private readonly waiters: Array<() => void> = [];
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

  /** Resolves when the caller may start one request. */
  acquire(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.drain();
    });
  }

  /** Pushes every slot out by `delayMs`, after the server answered 429 with Retry-After. */
  pause(delayMs: number): void {
    // A start recorded at `blockedStart` leaves the window exactly when the pause ends.
    const blockedStart = Date.now() + delayMs - this.windowMs;
    const later = this.starts.filter((start) => start > blockedStart);
    const fillers = new Array<number>(Math.max(this.limit - later.length, 0)).fill(blockedStart);
    this.starts = [...fillers, ...later];
  }

  private drain(): void {
    const now = Date.now();
    while (this.starts.length > 0 && this.starts[0]! <= now - this.windowMs) this.starts.shift();

    while (this.waiters.length > 0 && this.starts.length < this.limit) {
      this.starts.push(now);
      this.waiters.shift()!();
    }
    if (this.waiters.length === 0 || this.timer !== undefined) return;

    const nextFree = this.starts[0]! + this.windowMs - now;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      Math.max(nextFree, 1),
    );
  }
}
