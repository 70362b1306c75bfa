// Seedable pseudo-random numbers for the emulator's fault injection and list order, so that a run
// with the same seed and the same request sequence makes the same choices. Not for cryptography.

import { randomInt } from 'node:crypto';

/** Returns a random 32-bit seed, for emulators started without one. */
export function randomSeed(): number {
  return randomInt(0, 2 ** 32);
}

/**
 * A 32-bit generator with a splitmix-style output function. The state advances by a fixed odd
 * constant, so every seed gives a full-period sequence of 2^32 values.
 */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let mixed = this.#state;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
    mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
    mixed ^= mixed >>> 16;
    return (mixed >>> 0) / 2 ** 32;
  }

  /** Returns an integer in [0, bound). */
  integer(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** Returns a shuffled copy of `items` (Fisher-Yates). */
  shuffle<Item>(items: readonly Item[]): Item[] {
    const shuffled = [...items];
    for (let index = shuffled.length - 1; index > 0; index--) {
      const other = this.integer(index + 1);
      [shuffled[index], shuffled[other]] = [shuffled[other]!, shuffled[index]!];
    }
    return shuffled;
  }
}
