/**
 * A work queue of object keys with the guarantees controllers rely on: a key waits in the queue
 * at most once however often it is added, and no two workers hold the same key at once. A key
 * added while it is being processed is queued again when its worker calls `done`. Keys added
 * with `addFirst` are handed out before keys added with `add`.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly firstQueue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly waiting: Array<(key: string | undefined) => void> = [];
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly retriesPerSecond: number;
  private readonly retryBurst: number;
  private retryTokens: number;
  private readonly now: () => number;
  private retryTokensAt: number;
  private stopped = false;

  /**
   * `baseDelayMs`/`maxDelayMs` bound one key's exponential backoff. `retriesPerSecond` and
   * `retryBurst` cap failed keys coming back across all keys (client-go's defaults: 10 and 100),
   * so a tenant outage does not turn into a retry storm. `now` is the clock of that cap, for
   * tests.
   */
  constructor(
    options: {
      baseDelayMs?: number;
      maxDelayMs?: number;
      retriesPerSecond?: number;
      retryBurst?: number;
      now?: () => number;
    } = {},
  ) {
    this.baseDelayMs = options.baseDelayMs ?? 1_000;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
    this.retriesPerSecond = options.retriesPerSecond ?? 10;
    this.retryBurst = options.retryBurst ?? 100;
    this.retryTokens = this.retryBurst;
    this.now = options.now ?? Date.now;
    this.retryTokensAt = this.now();
  }

  get length(): number {
    return this.firstQueue.length + this.queue.length;
  }

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.enqueue(key, this.queue);
  }

  /**
   * Adds the key ahead of the keys added with `add`, or moves it there if it already waits.
   * It is meant for a key whose pending read has just ended, so that its reconcile uses the
   * result while it is fresh instead of waiting behind a full resync.
   */
  addFirst(key: string): void {
    if (this.stopped) return;
    if (!this.dirty.has(key)) {
      this.enqueue(key, this.firstQueue);
      return;
    }
    const index = this.queue.indexOf(key);
    if (index >= 0) {
      this.queue.splice(index, 1);
      this.firstQueue.push(key);
    }
  }

  private enqueue(key: string, lane: string[]): void {
    this.dirty.add(key);
    if (this.processing.has(key)) return;

    const waiter = this.waiting.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      lane.push(key);
    }
  }

  /** Adds the key after `delayMs`; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }

    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);

    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    this.timers.set(key, { at, timer });
  }

  /**
   * Adds the key after a delay that doubles with each consecutive failure of that key, and
   * that is at least what the overall retry budget allows.
   */
  addRateLimited(key: string): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const backoffMs = Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
    const delayMs = Math.max(backoffMs, this.reserveRetry());
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** Takes one token from the overall retry bucket; returns how long the caller must wait. */
  private reserveRetry(): number {
    const now = this.now();
    const refill = ((now - this.retryTokensAt) / 1000) * this.retriesPerSecond;
    this.retryTokens = Math.min(this.retryBurst, this.retryTokens + refill);
    this.retryTokensAt = now;
    this.retryTokens -= 1;
    if (this.retryTokens >= 0) return 0;
    return Math.ceil((-this.retryTokens / this.retriesPerSecond) * 1000);
  }

  /** Drops a pending delayed add of the key, e.g. a poll that is moot since the key converged. */
  cancelDelayed(key: string): void {
    const pending = this.timers.get(key);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.timers.delete(key);
  }

  /** Resets the failure count of a key after it succeeded. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Waits for the next key; resolves `undefined` once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const key = this.firstQueue.shift() ?? this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Marks a key's processing as finished, re-queueing it if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    this.dirty.delete(key);
    this.add(key);
  }

  shutdown(): void {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
  }
}
