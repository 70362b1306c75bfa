// Tenant clock of the emulator. Time-based rules (token and PAT expiry, invitation expiry, the
// delay before a PAT's new scopes apply) read it, so tests can move time forward instead of
// waiting. Timestamps in response bodies (created, modified) keep using the system clock.

export class TenantClock {
  readonly #base: () => number;
  #offsetMs = 0;

  /** `base` returns milliseconds since the Unix epoch; the default is Date.now. */
  constructor(base: () => number = Date.now) {
    this.#base = base;
  }

  /** Returns the tenant time in milliseconds since the Unix epoch. */
  now(): number {
    return this.#base() + this.#offsetMs;
  }

  nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  /** Moves the tenant time forward. Raises a RangeError for a negative or non-finite step. */
  advance(milliseconds: number): void {
    if (!Number.isFinite(milliseconds) || milliseconds < 0) {
      throw new RangeError(
        `The clock can only move forward by a finite number of milliseconds, got ${milliseconds}.`,
      );
    }
    this.#offsetMs += milliseconds;
  }
}
