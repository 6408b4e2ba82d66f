/**
 * Fuzzing the descriptor parser with mutations of every real configuration we have (first half of the run; the
 * second half is descriptors-fuzz-2.test.ts, so vitest's two workers share the work). Default: 120 000 cases in
 * all. Seed and count can be set:
 *   UVC_FUZZ_SEED=0x1234abcd UVC_FUZZ_CASES=1000000 npx vitest run test/uvc/descriptors-fuzz
 */
import { it } from 'vitest';
import { fuzzHalf } from './helpers/descriptor-fuzz.js';

it('survives mutated configurations (first half)', () => fuzzHalf(0), 600_000);
