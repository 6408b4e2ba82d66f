import { Random } from '../../../src/random.js';

/**
 * The descriptor fuzzer's PRNG: the project's one (src/random.ts), picking by modulo as it always has, so that a
 * seed recorded from a failure replays the same cases.
 */
export class Prng extends Random {
  override pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
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
