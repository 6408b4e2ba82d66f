import { Random } from '../../../src/random.js';

/**
 * The fuzzers' PRNG (descriptor and USB/IP): the project's one (src/random.ts) with this file's historical
 * draws (next() is a 32-bit integer, picks go by modulo), so that a seed recorded from a failure replays the same
 * cases.
 */
export class Prng {
  private readonly random: Random;

  constructor(seed: number) {
    this.random = new Random(seed);
  }

  /** Uniform in [0, 2^32). */
  next(): number {
    return this.random.uint32();
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return this.random.below(n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  chance(p: number): boolean {
    return this.random.chance(p);
  }
}

/** The seed from an environment variable (decimal or 0x…), else the default. */
export function seedFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const seed = value.startsWith('0x') ? parseInt(value.slice(2), 16) : parseInt(value, 10);
  if (!Number.isFinite(seed)) throw new Error(`${name}=${value} is not a number`);
  return seed >>> 0;
}
