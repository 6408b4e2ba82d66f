/**
 * Faults a virtual camera can be told to commit, on purpose, so drivers can be tested against the ways real
 * cameras misbehave. Given at construction (`options.faults`) or later (`camera.setFaults()`); each is checked
 * where the camera would commit it (packetising, probe/commit, the class request dispatcher).
 */
import { RequestErrorCode } from '../spec/uvc.js';
import type { InvalidOption } from './types.js';
import { Random } from '../random.js';

/** Which frames (by sequence number, the number their stamp carries): all, a list, or every n-th from offset. */
export type FrameSet = 'all' | readonly number[] | { every: number; offset?: number };

/** Selects UVC class requests (bmRequestType 0x21/0xA1). Every given field must match. */
export interface RequestMatch {
  /** bRequest, e.g. UvcRequest.GET_CUR. */
  request?: number;
  /** Interface number: the low byte of wIndex. */
  interface?: number;
  /** Terminal or unit ID: the high byte of wIndex (0 for interface controls such as PROBE). */
  entity?: number;
  /** Control selector: the high byte of wValue. */
  selector?: number;
  /** Match this many requests, then stop matching. Default: all of them. */
  times?: number;
}

export interface StallMatch extends RequestMatch {
  /** What REQUEST_ERROR_CODE reports afterwards. Default NOT_READY (1). */
  errorCode?: number;
}

export interface FaultOptions {
  /** Probability in [0, 1] that a packet is spoiled on the bus (iso: that packet; bulk: its transfer fails). */
  packetLossRate?: number;
  /** 'error': the packet completes with status ERROR (a CRC error); 'missing': it arrives empty with status OK. */
  packetLoss?: 'error' | 'missing';
  /** Frames whose payload headers carry the ERR bit; STREAM_ERROR_CODE then reads `streamErrorCode`. */
  errorFrames?: FrameSet;
  /** STREAM_ERROR_CODE value for ERR frames, 1–7. Default 3 (data discontinuity). */
  streamErrorCode?: number;
  /** Frames whose last payload lacks the EOF bit. */
  missingEof?: FrameSet;
  /** FID stays 0 on every payload: only EOF marks frame ends. */
  fidNeverToggles?: boolean;
  /** Frames cut short: only `shortFrameRatio` of their bytes are sent before EOF. */
  shortFrames?: FrameSet;
  shortFrameRatio?: number;
  /** Frames sent longer than the committed dwMaxVideoFrameSize (the picture, then zeros): no buffer holds them. */
  overflowFrames?: FrameSet;
  /**
   * Replies to video transfers reach the host 0..N ms late (uniform, real time, in order), as through USB/IP. The
   * device loses nothing for it (iso requests are served back to back, as a remote host keeps them queued), and
   * an iso reply's missedIntervals is what the host's clock shows: the time it had no request in flight.
   */
  completionJitterMs?: number;
  /** Class requests answered with STALL. */
  stallRequests?: readonly StallMatch[];
  /** Class requests never answered: they stay pending until the host aborts them. */
  ignoreRequests?: readonly RequestMatch[];
  /** Class requests answered only after a delay (real time, in every pace). */
  slowRequests?: { delayMs: number; match?: RequestMatch };
  /** dwMaxPayloadTransferSize the probe/commit replies claim, whatever the device really sends. */
  reportedMaxPayloadTransferSize?: number;
  /** Bytes of every GET reply to PROBE/COMMIT (e.g. 26 from a device whose bcdUVC implies 34). */
  probeReplyLength?: number;
  /** Leave the bus as the frame with this sequence number is about to be sent (frames before it arrive whole). */
  unplugAtFrame?: number;
  /** Leave the bus this many ms (real time) after the faults are set. */
  unplugAfterMs?: number;
}

export interface ResolvedMatch {
  request: number | undefined;
  interface: number | undefined;
  entity: number | undefined;
  selector: number | undefined;
  remaining: number;
  errorCode: number;
}

export interface ResolvedFaults {
  packetLossRate: number;
  packetLoss: 'error' | 'missing';
  errorFrames: FrameSet | null;
  streamErrorCode: number;
  missingEof: FrameSet | null;
  fidNeverToggles: boolean;
  shortFrames: FrameSet | null;
  shortFrameRatio: number;
  overflowFrames: FrameSet | null;
  completionJitterMs: number;
  stallRequests: ResolvedMatch[];
  ignoreRequests: ResolvedMatch[];
  slowRequests: { delayMs: number; match: ResolvedMatch } | null;
  reportedMaxPayloadTransferSize: number | null;
  probeReplyLength: number | null;
  unplugAtFrame: number | null;
  unplugAfterMs: number | null;
}

function resolveFrameSet(name: string, value: unknown, invalid: InvalidOption): FrameSet | null {
  if (value === undefined) return null;
  if (value === 'all') return 'all';
  if (Array.isArray(value)) {
    for (const v of value) {
      if (!Number.isInteger(v) || (v as number) < 0) invalid(`faults.${name} must list non-negative frame numbers`);
    }
    return [...(value as number[])];
  }
  if (typeof value === 'object' && value !== null) {
    const { every, offset } = value as { every?: unknown; offset?: unknown };
    if (!Number.isInteger(every) || (every as number) < 1 || (offset !== undefined && (!Number.isInteger(offset) || (offset as number) < 0))) {
      invalid(`faults.${name}: { every } needs an integer every ≥ 1 and offset ≥ 0`);
    }
    return { every: every as number, offset: (offset as number | undefined) ?? 0 };
  }
  return invalid(`faults.${name} must be 'all', an array of frame numbers, or { every, offset }`);
}

function resolveMatch(name: string, value: unknown, invalid: InvalidOption, errorCode?: unknown): ResolvedMatch {
  if (typeof value !== 'object' || value === null) invalid(`faults.${name} entries must be objects`);
  const m = value as Record<string, unknown>;
  const byte = (field: string): number | undefined => {
    const v = m[field];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 255) invalid(`faults.${name}.${field} must be a byte`);
    return v as number;
  };
  const times = m.times;
  if (times !== undefined && (!Number.isInteger(times) || (times as number) < 1)) invalid(`faults.${name}.times must be ≥ 1`);
  const code = errorCode ?? RequestErrorCode.NOT_READY;
  if (!Number.isInteger(code) || (code as number) < 1 || (code as number) > 255) {
    invalid(`faults.${name}.errorCode must be a request error code (1–255)`);
  }
  return {
    request: byte('request'),
    interface: byte('interface'),
    entity: byte('entity'),
    selector: byte('selector'),
    remaining: (times as number | undefined) ?? Number.POSITIVE_INFINITY,
    errorCode: code as number,
  };
}

export function resolveFaults(faults: FaultOptions | undefined, invalid: InvalidOption): ResolvedFaults {
  const f = faults ?? {};
  if (typeof f !== 'object' || f === null) invalid('faults must be an object');
  const rate = f.packetLossRate ?? 0;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) invalid('faults.packetLossRate must be in [0, 1]');
  const lossMode = f.packetLoss ?? 'error';
  if (lossMode !== 'error' && lossMode !== 'missing') invalid("faults.packetLoss must be 'error' or 'missing'");
  const streamErrorCode = f.streamErrorCode ?? 3;
  if (!Number.isInteger(streamErrorCode) || streamErrorCode < 1 || streamErrorCode > 7) {
    invalid('faults.streamErrorCode must be 1–7');
  }
  const ratio = f.shortFrameRatio ?? 0.5;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio < 1)) invalid('faults.shortFrameRatio must be in [0, 1)');
  const list = <T>(name: string, v: readonly T[] | undefined): readonly T[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) invalid(`faults.${name} must be an array`);
    return v;
  };
  let slow: ResolvedFaults['slowRequests'] = null;
  if (f.slowRequests !== undefined) {
    const s = f.slowRequests;
    if (typeof s !== 'object' || s === null || typeof s.delayMs !== 'number' || !(s.delayMs >= 0) || s.delayMs > 600_000) {
      invalid('faults.slowRequests needs delayMs in [0, 600000]');
    }
    slow = { delayMs: s.delayMs, match: resolveMatch('slowRequests.match', s.match ?? {}, invalid) };
  }
  const optionalInt = (name: string, v: unknown, min: number, max: number): number | null => {
    if (v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) invalid(`faults.${name} must be an integer in [${min}, ${max}]`);
    return v;
  };
  return {
    packetLossRate: rate,
    packetLoss: lossMode,
    errorFrames: resolveFrameSet('errorFrames', f.errorFrames, invalid),
    streamErrorCode,
    missingEof: resolveFrameSet('missingEof', f.missingEof, invalid),
    fidNeverToggles: f.fidNeverToggles === undefined ? false : f.fidNeverToggles === true,
    shortFrames: resolveFrameSet('shortFrames', f.shortFrames, invalid),
    shortFrameRatio: ratio,
    overflowFrames: resolveFrameSet('overflowFrames', f.overflowFrames, invalid),
    completionJitterMs: optionalInt('completionJitterMs', f.completionJitterMs, 0, 10_000) ?? 0,
    stallRequests: list('stallRequests', f.stallRequests).map((m) => resolveMatch('stallRequests', m, invalid, m?.errorCode)),
    ignoreRequests: list('ignoreRequests', f.ignoreRequests).map((m) => resolveMatch('ignoreRequests', m, invalid)),
    slowRequests: slow,
    reportedMaxPayloadTransferSize: optionalInt('reportedMaxPayloadTransferSize', f.reportedMaxPayloadTransferSize, 0, 0xffffffff),
    probeReplyLength: optionalInt('probeReplyLength', f.probeReplyLength, 0, 48),
    unplugAtFrame: optionalInt('unplugAtFrame', f.unplugAtFrame, 0, 0xffffffff),
    unplugAfterMs: optionalInt('unplugAfterMs', f.unplugAfterMs, 0, 2_147_483_647),
  };
}

export function inFrameSet(set: FrameSet | null, sequence: number): boolean {
  if (set === null) return false;
  if (set === 'all') return true;
  if (Array.isArray(set)) return (set as readonly number[]).includes(sequence);
  const { every, offset = 0 } = set as { every: number; offset?: number };
  return sequence >= offset && (sequence - offset) % every === 0;
}

export interface ClassRequestKey {
  request: number;
  interface: number;
  entity: number;
  selector: number;
}

/** Whether a matcher applies to this request; consumes one of its `times` when it does. */
export function takeMatch(matchers: readonly ResolvedMatch[], key: ClassRequestKey): ResolvedMatch | null {
  for (const m of matchers) {
    if (m.remaining <= 0) continue;
    if (m.request !== undefined && m.request !== key.request) continue;
    if (m.interface !== undefined && m.interface !== key.interface) continue;
    if (m.entity !== undefined && m.entity !== key.entity) continue;
    if (m.selector !== undefined && m.selector !== key.selector) continue;
    m.remaining--;
    return m;
  }
  return null;
}

/** Packet loss must be reproducible from a seed: the project's seeded PRNG, as a function. */
export function createRandom(seed: number): () => number {
  const random = new Random(seed);
  return () => random.next();
}
