/** Second half of the descriptor fuzz run: see descriptors-fuzz.test.ts. */
import { it } from 'vitest';
import { fuzzHalf } from './helpers/descriptor-fuzz.js';

it('survives mutated configurations (second half)', () => fuzzHalf(1), 600_000);
