/**
 * Planning periodic bandwidth for several cameras on one bus: which combination of wished modes fits, and what to
 * lower when it does not. What a mode costs is asked of a provider (the camera layer probes the camera, so the
 * alt setting is the one streaming will select); the schedule arithmetic is the host controller's
 * (../transport/periodic-budget.ts), so a plan and a later SET_INTERFACE agree.
 *
 * When the wished modes do not fit, two kinds of advice:
 * - single changes: for each camera, the mode nearest its wish with which everything fits if only that camera
 *   changes;
 * - one lowered combination: while it does not fit, the camera taking the most bandwidth moves to the nearest
 *   mode (in the order below) that takes less; repeated until everything fits or nothing can be lowered.
 * "Nearest" is the order uvcvideo-style suggestions use: the same format first, then the frame size sharing the
 * most area with the wish, then the rate nearest the wish, then the higher rate.
 */
import { endpointCost, PeriodicSchedule, type BudgetSpeed, type EndpointCost, type PeriodicEndpoint } from '../transport/periodic-budget.js';
import type { AltSetting, UvcFunction, VideoFormat, VideoFrame, VideoStreamingInterface } from './descriptors/model.js';

/** One mode of a VideoStreaming interface. */
export interface ModeRef {
  formatIndex: number;
  frameIndex: number;
  /** 100 ns units. */
  interval: number;
  fourcc: string | null;
  width: number;
  height: number;
  fps: number;
}

/** A mode with what streaming it takes. */
export interface PlannedMode extends ModeRef {
  transfer: 'iso' | 'bulk';
  /** The alt setting streaming selects (bulk: 0). */
  altSetting: number;
  bytesPerInterval: number;
  /** What it takes from the periodic schedule in its busiest interval: µs (full, high speed) or xHCI blocks (SuperSpeed). Bulk: 0. */
  amount: number;
}

/** A mode and the endpoint costs behind its `amount`. */
export interface ModeOption {
  mode: PlannedMode;
  costs: EndpointCost[];
}

const COMMON_RATES = [120, 60, 50, 30, 25, 24, 20, 15, 10, 7.5, 5, 1];

function intervalsOf(frame: VideoFrame): number[] {
  const intervals = frame.intervals;
  if (Array.isArray(intervals)) return [...new Set(intervals)];
  const { min, max, step } = intervals;
  const set = new Set<number>([min, max]);
  for (const rate of COMMON_RATES) {
    const wanted = Math.round(1e7 / rate);
    if (wanted < min || wanted > max) continue;
    set.add(step > 0 ? Math.min(max, min + Math.round((wanted - min) / step) * step) : wanted);
  }
  return [...set];
}

export function modeRefOf(format: VideoFormat, frame: VideoFrame, interval: number): ModeRef {
  const fps = interval > 0 ? Math.round((1e7 / interval) * 1000) / 1000 : 0;
  return { formatIndex: format.index, frameIndex: frame.index, interval, fourcc: format.fourcc, width: frame.width, height: frame.height, fps };
}

/** Every mode of the interface but `wanted`, nearest first (see the order above). */
export function modesNearest(vs: VideoStreamingInterface, wanted: ModeRef): ModeRef[] {
  const ranked: Array<{ mode: ModeRef; rank: number[] }> = [];
  const area = (w: number, h: number): number => w * h + wanted.width * wanted.height - 2 * Math.min(w, wanted.width) * Math.min(h, wanted.height);
  for (const format of vs.formats) {
    for (const frame of format.frames) {
      for (const interval of intervalsOf(frame)) {
        if (format.index === wanted.formatIndex && frame.index === wanted.frameIndex && interval === wanted.interval) continue;
        const mode = modeRefOf(format, frame, interval);
        ranked.push({ mode, rank: [format.index === wanted.formatIndex ? 0 : 1, area(frame.width, frame.height), Math.abs(mode.fps - wanted.fps), -mode.fps] });
      }
    }
  }
  ranked.sort((a, b) => {
    for (let i = 0; i < a.rank.length; i++) if (a.rank[i] !== b.rank[i]) return a.rank[i]! - b.rank[i]!;
    return 0;
  });
  return ranked.map((r) => r.mode);
}

/** The periodic endpoints of a VideoStreaming alt setting (its iso video endpoint, if any). */
export function periodicEndpointsOfAlt(alt: AltSetting | undefined): PeriodicEndpoint[] {
  if (alt === undefined || alt.endpointAddress === null || alt.transferType !== 'isochronous') return [];
  return [
    {
      address: alt.endpointAddress,
      kind: 'iso',
      wMaxPacketSize: alt.wMaxPacketSize,
      bInterval: alt.interval,
      maxBurst: alt.superSpeed?.maxBurst ?? 0,
      mult: (alt.superSpeed?.attributes ?? 0) & 0x3,
    },
  ];
}

/** The VideoControl status interrupt endpoint, booked for as long as the camera is plugged in. */
export function statusEndpointOf(fn: UvcFunction): PeriodicEndpoint | null {
  const ep = fn.videoControl.interruptEndpoint;
  return ep === null ? null : { address: ep.address, kind: 'interrupt', wMaxPacketSize: ep.maxPacketSize, bInterval: ep.interval };
}

/** A mode option from what negotiation chose for it. */
export function modeOption(speed: BudgetSpeed, vs: VideoStreamingInterface, mode: ModeRef, altSetting: number, bytesPerInterval: number): ModeOption {
  const iso = vs.transferType === 'isochronous';
  const costs = iso ? periodicEndpointsOfAlt(vs.altSettings.find((a) => a.alternateSetting === altSetting)).map((e) => endpointCost(speed, e)) : [];
  return {
    mode: { ...mode, transfer: iso ? 'iso' : 'bulk', altSetting, bytesPerInterval, amount: costs.reduce((sum, c) => sum + c.amount, 0) },
    costs,
  };
}

export interface CombinationCamera {
  name: string;
  wanted: ModeOption;
  /** Modes to lower to, nearest first (modesNearest). Empty: the camera keeps its mode (it is streaming). */
  candidates: readonly ModeRef[];
}

/** What a candidate costs; null when the camera cannot stream it at all. Called lazily, nearest first. */
export type ModeCostProvider = (camera: number, candidate: ModeRef) => Promise<ModeOption | null>;

export interface CombinationResult {
  fits: boolean;
  /** The busiest interval with every wished mode placed (or as far as they went), and what is left of the limit. */
  used: number;
  free: number;
  cameras: Array<{ name: string; wanted: PlannedMode; fitsAlone: boolean }>;
  /** One camera changed alone makes everything fit: each such camera's nearest fitting mode. */
  singleChanges: Array<{ name: string; mode: PlannedMode }>;
  /** Modes lowered together until everything fits (only the cameras that change); null when nothing fits. */
  lowered: Array<{ name: string; mode: PlannedMode }> | null;
}

/** Places every option on a copy of `base`; the peak, or null when one does not fit. */
function tryPlace(base: PeriodicSchedule, options: readonly ModeOption[]): number | null {
  const trial = base.copy();
  for (const option of options) {
    const placed = trial.place(option.costs);
    if (placed === null) return null;
    trial.add(placed);
  }
  return trial.peak;
}

/**
 * Which combination fits `base` (the schedule as others left it), with advice when the wished one does not.
 * Cameras are placed in the order given, as SET_INTERFACE calls in that order would be.
 */
export async function planCombination(base: PeriodicSchedule, cameras: readonly CombinationCamera[], cost: ModeCostProvider): Promise<CombinationResult> {
  const wanted = cameras.map((c) => c.wanted);
  const peak = tryPlace(base, wanted);
  const result: CombinationResult = {
    fits: peak !== null,
    used: peak ?? partialPeak(base, wanted),
    free: 0,
    cameras: cameras.map((c) => ({ name: c.name, wanted: c.wanted.mode, fitsAlone: tryPlace(base, [c.wanted]) !== null })),
    singleChanges: [],
    lowered: peak !== null ? [] : null,
  };
  result.free = Math.max(0, base.limits.limit - result.used);
  if (peak !== null) return result;

  const memo = new Map<string, Promise<ModeOption | null>>();
  const costOf = (index: number, candidate: ModeRef): Promise<ModeOption | null> => {
    const key = `${index}/${candidate.formatIndex}/${candidate.frameIndex}/${candidate.interval}`;
    let known = memo.get(key);
    if (!known) memo.set(key, (known = cost(index, candidate)));
    return known;
  };

  for (let i = 0; i < cameras.length; i++) {
    for (const candidate of cameras[i]!.candidates) {
      const option = await costOf(i, candidate);
      if (option === null || option.mode.amount >= cameras[i]!.wanted.mode.amount) continue;
      const trial = wanted.map((w, j) => (j === i ? option : w));
      if (tryPlace(base, trial) !== null) {
        result.singleChanges.push({ name: cameras[i]!.name, mode: option.mode });
        break;
      }
    }
  }

  // Lower the dearest camera step by step until everything fits.
  const current = [...wanted];
  const exhausted = new Set<number>();
  for (;;) {
    if (tryPlace(base, current) !== null) {
      result.lowered = cameras.flatMap((c, i) => (current[i] === c.wanted ? [] : [{ name: c.name, mode: current[i]!.mode }]));
      return result;
    }
    let dearest = -1;
    for (let i = 0; i < cameras.length; i++) {
      if (exhausted.has(i) || current[i]!.mode.amount === 0) continue;
      if (dearest < 0 || current[i]!.mode.amount > current[dearest]!.mode.amount) dearest = i;
    }
    if (dearest < 0) return result;
    let lower: ModeOption | null = null;
    for (const candidate of cameras[dearest]!.candidates) {
      const option = await costOf(dearest, candidate);
      if (option !== null && option.mode.amount < current[dearest]!.mode.amount) {
        lower = option;
        break;
      }
    }
    if (lower === null) exhausted.add(dearest);
    else current[dearest] = lower;
  }
}

/** The busiest interval once as many of the options as fit are placed (for a report of a plan that fails). */
function partialPeak(base: PeriodicSchedule, options: readonly ModeOption[]): number {
  const trial = base.copy();
  let overflow = 0;
  for (const option of options) {
    const placed = trial.place(option.costs);
    if (placed === null) overflow += option.mode.amount;
    else trial.add(placed);
  }
  return trial.peak + overflow;
}
