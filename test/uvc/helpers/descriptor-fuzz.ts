/**
 * The fuzz loop over the parser (and the format choice that runs on its output). A case passes when it ends in a
 * model or in UvcError('EINVAL'), within a step budget linear in its size: the parser ticks a counter in every
 * loop, so a hang or a blow-up would show as a budget overrun (the test timeout is the watchdog of last resort).
 */
import { isUvcError } from '../../../src/errors.js';
import type { UvcDescriptors } from '../../../src/uvc/descriptors/model.js';
import { parseUvcDescriptorsCounted } from '../../../src/uvc/descriptors/parse.js';
import { selectFormat } from '../../../src/uvc/format-selection.js';
import * as b from './descriptor-builder.js';
import { MUTATIONS, mutate, type MutationName } from './descriptor-mutator.js';
import { configurationFixtures, listFixtures, readHex, readText } from './fixtures.js';
import { rebuildConfiguration } from './lsusb.js';
import { Prng, seedFromEnv } from './prng.js';
import { expect } from 'vitest';

/** Steps allowed per input byte (plus a constant): the parser's work must stay linear in its input. */
export const STEPS_PER_BYTE = 4;

export function fuzzCorpus(): Uint8Array[] {
  const real = configurationFixtures().map(readHex);
  const lsusb = listFixtures(/^libuvc_.*\.lsusb\.txt$/).map((f) => rebuildConfiguration(readText(f)));
  const synthetic = b.camera({
    bcdUVC: 0x0150,
    numFormats: 4,
    stillMethod: 2,
    cameraBits: [1, 3, 11, 17],
    processingBits: [0, 1, 10],
    extensionBits: [0, 1, 2],
    streaming: [
      b.h264Format(1, 1),
      b.h264Frame(1, 1920, 1080, [333333, 666666]),
      b.vp8Format(2, 1),
      b.vp8Frame(1, 640, 480, [333333]),
      b.frameBasedFormat(3, 'H265', 1),
      b.frameBasedFrame(1, 1280, 720, { min: 333333, max: 1000000, step: 333333 }),
      b.uncompressedFormat(4, 'NV12', 12, 1),
      b.frame(0x05, 1, 640, 480, 460800, [333333], 333333, 1),
      b.stillImageFrame(0, [[1280, 960]], [1]),
      b.colorMatching(1, 1, 4),
    ],
    altSettings: [0x0400, 0x1400],
  });
  return [...real, ...lsusb, synthetic];
}

export interface FuzzFailure {
  caseIndex: number;
  mutations: MutationName[];
  problem: string;
  hex: string;
}

export interface FuzzReport {
  cases: number;
  parsed: number;
  rejected: number;
  maxStepsPerByte: number;
  failures: FuzzFailure[];
}

function checkModel(model: UvcDescriptors): string | null {
  if (model.warnings.length > 201) return `${model.warnings.length} warnings`;
  for (const fn of model.functions) {
    for (const vs of fn.streamingInterfaces) {
      for (const format of vs.formats) {
        for (const frame of format.frames) {
          const list = Array.isArray(frame.intervals) ? frame.intervals : [frame.intervals.min, frame.intervals.max];
          if (list.length === 0 || list.some((i) => !(i > 0))) return `frame with interval ${JSON.stringify(frame.intervals)}`;
          if (!(frame.defaultInterval >= Math.min(...list) && frame.defaultInterval <= Math.max(...list))) {
            return `default interval ${frame.defaultInterval} outside ${JSON.stringify(frame.intervals)}`;
          }
        }
      }
    }
  }
  return null;
}

export function runDescriptorFuzz(seed: number, cases: number): FuzzReport {
  const rng = new Prng(seed);
  const corpus = fuzzCorpus();
  const report: FuzzReport = { cases, parsed: 0, rejected: 0, maxStepsPerByte: 0, failures: [] };
  const fail = (caseIndex: number, mutations: MutationName[], input: Uint8Array, problem: string): void => {
    if (report.failures.length < 5) report.failures.push({ caseIndex, mutations, problem, hex: Buffer.from(input).toString('hex') });
  };

  for (let i = 0; i < cases; i++) {
    let input = rng.pick(corpus);
    const mutations: MutationName[] = [];
    const rounds = 1 + rng.below(3);
    for (let r = 0; r < rounds; r++) {
      const mutation = rng.pick(MUTATIONS);
      mutations.push(mutation);
      input = mutate(input, rng, mutation, corpus);
    }

    let outcome: ReturnType<typeof parseUvcDescriptorsCounted>;
    try {
      outcome = parseUvcDescriptorsCounted(input);
    } catch (error) {
      fail(i, mutations, input, `escaped the counted parse: ${String(error)}`);
      continue;
    }
    const budget = STEPS_PER_BYTE * input.length + 64;
    report.maxStepsPerByte = Math.max(report.maxStepsPerByte, outcome.steps / Math.max(1, input.length));
    if (outcome.steps > budget) fail(i, mutations, input, `${outcome.steps} steps for ${input.length} bytes (budget ${budget})`);

    if (outcome.descriptors === undefined) {
      if (isUvcError(outcome.error, 'EINVAL')) report.rejected++;
      else fail(i, mutations, input, `threw ${String(outcome.error)}`);
      continue;
    }
    report.parsed++;
    const problem = checkModel(outcome.descriptors);
    if (problem !== null) fail(i, mutations, input, problem);

    // the model must be safe to use: the format choice on it fails only with UvcErrors
    try {
      const fn = rng.pick(outcome.descriptors.functions);
      selectFormat(fn, {
        ...(rng.chance(0.5) ? { fourcc: rng.pick(['YUY2', 'MJPG', 'H264', 'NV12', 'H265', 'VP80']) } : {}),
        ...(rng.chance(0.7) ? { width: 1 + rng.below(4000), height: 1 + rng.below(3000) } : {}),
        ...(rng.chance(0.7) ? { fps: 1 + rng.below(120) } : {}),
      });
    } catch (error) {
      if (!isUvcError(error)) fail(i, mutations, input, `selectFormat threw ${String(error)}`);
    }
  }
  return report;
}

/** Default seed; UVC_FUZZ_SEED overrides it, UVC_FUZZ_CASES the total number of cases (split in two halves). */
export const DEFAULT_FUZZ_SEED = 0x75c0ffee;

/** One half of the default fuzz run, with its assertions. */
export function fuzzHalf(half: 0 | 1): void {
  const base = seedFromEnv('UVC_FUZZ_SEED', DEFAULT_FUZZ_SEED);
  const seed = half === 0 ? base : (base ^ 0x9e3779b9) >>> 0;
  const cases = Math.ceil(Number(process.env.UVC_FUZZ_CASES ?? 120_000) / 2);
  console.log(
    `descriptor fuzz half ${half + 1}: seed 0x${seed.toString(16)} (from UVC_FUZZ_SEED=0x${base.toString(16)}), ${cases} cases`,
  );
  const report = runDescriptorFuzz(seed, cases);
  console.log(
    `descriptor fuzz half ${half + 1}: ${report.parsed} parsed, ${report.rejected} rejected with EINVAL, ` +
      `at most ${report.maxStepsPerByte.toFixed(2)} steps per byte (budget ${STEPS_PER_BYTE})`,
  );
  expect(report.failures).toEqual([]);
  expect(report.parsed + report.rejected).toBe(cases);
  // most mutants must still parse, or the fuzz would exercise only the first checks
  expect(report.parsed).toBeGreaterThan(cases / 2);
}
