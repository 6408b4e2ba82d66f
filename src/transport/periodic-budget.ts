/**
 * The periodic bandwidth budget of a USB host controller, computed as Linux computes it: what one isochronous or
 * interrupt endpoint costs, and whether a set of them fits one bandwidth domain. Bulk and control transfers
 * reserve nothing; they share what the periodic schedule leaves.
 *
 * - Full speed (UHCI, OHCI, the full-speed companions of EHCI): bus time from usb_calc_bus_time() (USB 2.0
 *   §5.11.3) in whole µs per 1 ms frame, at most 900 µs (90 %: FRAME_TIME_MAX_USECS_ALLOC). The schedule is 32
 *   frames long (UHCI's MAX_PHASE).
 * - High speed (EHCI): HS_USECS_ISO (iso) or HS_USECS (interrupt) of the bytes per microframe, at most 100 of the
 *   125 µs of each microframe (80 %: uframe_periodic_max). The schedule is 64 microframes long
 *   (EHCI_BANDWIDTH_SIZE).
 *   In both, an endpoint whose period is longer than one interval takes its time in one interval of every period
 *   (its phase); a new endpoint takes the phase that leaves the busiest interval least loaded (UHCI's choice;
 *   EHCI takes the first phase that fits: they agree on whether an endpoint fits).
 * - SuperSpeed (xHCI): Linux's software check (xhci_check_ss_bw): 16-byte blocks per 125 µs, 3906 blocks IN
 *   and 3906 OUT, minus 10 % (391) kept for asynchronous transfers; each endpoint costs
 *   xhci_get_ss_bw_consumed() (its packets plus per-packet and per-burst overhead, averaged over its period).
 *   Every xHCI root port is a bandwidth domain of its own (rh_bw[port]); hardware xHCIs run their own (similar,
 *   undocumented) arithmetic and answer a Configure Endpoint command with Bandwidth Error.
 */
import { UvcError } from '../errors.js';

export type BudgetSpeed = 'full' | 'high' | 'super';

/** One periodic endpoint as its descriptors give it. */
export interface PeriodicEndpoint {
  /** bEndpointAddress (bit 7: IN). */
  address: number;
  kind: 'iso' | 'interrupt';
  /** wMaxPacketSize with the high-speed multiplier bits (11–12). */
  wMaxPacketSize: number;
  bInterval: number;
  /** SuperSpeed companion: bMaxBurst (0–15) and, for iso, Mult (0–2). */
  maxBurst?: number;
  mult?: number;
}

export interface BudgetLimits {
  /** 'µs' of bus time per interval (full, high speed) or xHCI 'blocks' of 16 bytes (SuperSpeed). */
  unit: 'µs' | 'blocks';
  /** The most the periodic schedule may take per interval. */
  limit: number;
  /** The whole interval in the same unit (the limit is a share of it). */
  whole: number;
  /** Bus interval: a 1 ms frame (full speed) or a 125 µs microframe. */
  intervalUs: number;
  /** Length of the schedule in intervals (the largest period kept apart). SuperSpeed: 1 (costs are averages). */
  slots: number;
}

export const BUDGET_LIMITS: Readonly<Record<BudgetSpeed, Readonly<BudgetLimits>>> = Object.freeze({
  full: Object.freeze({ unit: 'µs', limit: 900, whole: 1000, intervalUs: 1000, slots: 32 }),
  high: Object.freeze({ unit: 'µs', limit: 100, whole: 125, intervalUs: 125, slots: 64 }),
  super: Object.freeze({ unit: 'blocks', limit: 3906 - Math.ceil((10 * 3906) / 100), whole: 3906, intervalUs: 125, slots: 1 }),
});

/** Bits on the wire for a payload, with the bit stuffing the specification assumes (7/6), truncated as Linux does. */
function bitTime(bytes: number): number {
  return Math.floor((7 * 8 * bytes) / 6);
}

function nsToUs(ns: number): number {
  return Math.ceil(ns / 1000);
}

/** usb_calc_bus_time() for full speed, in ns. */
function fullSpeedNs(isInput: boolean, iso: boolean, bytes: number): number {
  const data = Math.floor((8354 * (31 + 10 * bitTime(bytes))) / 1000);
  const hostDelay = 1000;
  if (iso) return (isInput ? 7268 : 6265) + hostDelay + data;
  return 9107 + hostDelay + data;
}

/** HS_NSECS_ISO / HS_NSECS, in ns. */
function highSpeedNs(iso: boolean, bytes: number): number {
  const protocol = (iso ? 38 : 55) * 8 * 2083;
  return Math.floor((protocol + 2083 * (3 + bitTime(bytes))) / 1000) + 5;
}

const SS_BLOCK = 16;
const SS_OVERHEAD = 8;
const SS_OVERHEAD_BURST = 32;

export interface EndpointCost {
  endpoint: PeriodicEndpoint;
  /** Time (µs) or blocks the endpoint takes in each interval it is scheduled in. */
  amount: number;
  /** Scheduled once every `period` intervals (a power of two, at most the schedule's length). */
  period: number;
  direction: 'in' | 'out';
}

function check(endpoint: PeriodicEndpoint): void {
  if (!Number.isInteger(endpoint.wMaxPacketSize) || endpoint.wMaxPacketSize < 0 || endpoint.wMaxPacketSize > 0xffff) {
    throw new UvcError('EINVAL', `wMaxPacketSize must be 0…65535, got ${endpoint.wMaxPacketSize}`);
  }
  if (!Number.isInteger(endpoint.bInterval) || endpoint.bInterval < 0 || endpoint.bInterval > 255) {
    throw new UvcError('EINVAL', `bInterval must be 0…255, got ${endpoint.bInterval}`);
  }
}

/** Largest power of two ≤ n (n ≥ 1). */
function floorPowerOfTwo(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

/** What one endpoint takes from the periodic schedule of a controller of that speed. */
export function endpointCost(speed: BudgetSpeed, endpoint: PeriodicEndpoint): EndpointCost {
  check(endpoint);
  const limits = BUDGET_LIMITS[speed];
  const direction = (endpoint.address & 0x80) !== 0 ? 'in' : 'out';
  const iso = endpoint.kind === 'iso';
  const size = endpoint.wMaxPacketSize & 0x7ff;
  // bInterval: 2^(n−1) intervals, except full-speed interrupt endpoints, which give frames directly.
  const exponent = Math.min(16, Math.max(1, endpoint.bInterval)) - 1;
  if (speed === 'super') {
    const packets = (endpoint.maxBurst ?? 0) + 1;
    const mult = iso ? (endpoint.mult ?? 0) + 1 : 1;
    const blocks = Math.ceil(size / SS_BLOCK);
    const amount =
      exponent === 0
        ? SS_OVERHEAD_BURST + mult * packets * (SS_OVERHEAD + blocks)
        : Math.ceil((mult * packets * (SS_OVERHEAD + blocks + SS_OVERHEAD_BURST)) / 2 ** exponent);
    return { endpoint, amount, period: 1, direction };
  }
  if (speed === 'high') {
    const transactions = 1 + ((endpoint.wMaxPacketSize >> 11) & 0x3);
    return { endpoint, amount: nsToUs(highSpeedNs(iso, size * transactions)), period: Math.min(limits.slots, 2 ** exponent), direction };
  }
  const period = iso ? 2 ** exponent : floorPowerOfTwo(endpoint.bInterval);
  return { endpoint, amount: nsToUs(fullSpeedNs(direction === 'in', iso, size)), period: Math.min(limits.slots, period), direction };
}

/** Where a cost went: which intervals of the schedule (full, high speed) or which direction's sum (SuperSpeed). */
export interface PlacedCost extends EndpointCost {
  phase: number;
}

/**
 * One bandwidth domain's periodic schedule. `place` says where endpoints would go without changing anything;
 * `add` and `remove` book them.
 */
export class PeriodicSchedule {
  readonly speed: BudgetSpeed;
  readonly limits: Readonly<BudgetLimits>;
  /** Per interval of the schedule (full, high speed); [IN, OUT] sums at SuperSpeed. */
  private readonly load: Float64Array;

  constructor(speed: BudgetSpeed) {
    this.speed = speed;
    this.limits = BUDGET_LIMITS[speed];
    this.load = new Float64Array(speed === 'super' ? 2 : this.limits.slots);
  }

  /** An independent schedule booked as this one is. */
  copy(): PeriodicSchedule {
    const copy = new PeriodicSchedule(this.speed);
    copy.load.set(this.load);
    return copy;
  }

  /** The busiest interval's load (SuperSpeed: the IN sum, the direction cameras use; OUT is kept apart). */
  get peak(): number {
    if (this.speed === 'super') return this.load[0]!;
    let peak = 0;
    for (const value of this.load) if (value > peak) peak = value;
    return peak;
  }

  /** What is left in the busiest interval. */
  get free(): number {
    return Math.max(0, this.limits.limit - this.peak);
  }

  /** Places the endpoints one after the other; null when one of them does not fit. */
  place(costs: readonly EndpointCost[]): PlacedCost[] | null {
    const scratch = this.load.slice();
    const placed: PlacedCost[] = [];
    for (const cost of costs) {
      const phase = this.bestPhase(scratch, cost);
      if (phase === null) return null;
      apply(scratch, this.speed, { ...cost, phase }, 1);
      placed.push({ ...cost, phase });
    }
    return placed;
  }

  add(placed: readonly PlacedCost[]): void {
    for (const cost of placed) apply(this.load, this.speed, cost, 1);
  }

  remove(placed: readonly PlacedCost[]): void {
    for (const cost of placed) apply(this.load, this.speed, cost, -1);
  }

  private bestPhase(load: Float64Array, cost: EndpointCost): number | null {
    const limit = this.limits.limit;
    if (this.speed === 'super') {
      const index = cost.direction === 'in' ? 0 : 1;
      return load[index]! + cost.amount <= limit ? 0 : null;
    }
    let best: number | null = null;
    let bestPeak = Infinity;
    for (let phase = 0; phase < cost.period; phase++) {
      let peak = 0;
      for (let slot = phase; slot < load.length; slot += cost.period) peak = Math.max(peak, load[slot]! + cost.amount);
      if (peak <= limit && peak < bestPeak) {
        best = phase;
        bestPeak = peak;
      }
    }
    return best;
  }
}

function apply(load: Float64Array, speed: BudgetSpeed, cost: PlacedCost, sign: 1 | -1): void {
  if (speed === 'super') {
    load[cost.direction === 'in' ? 0 : 1]! += sign * cost.amount;
    return;
  }
  for (let slot = cost.phase; slot < load.length; slot += cost.period) load[slot]! += sign * cost.amount;
}

/** '61 µs per microframe', '3488 blocks per 125 µs'. */
export function describeAmount(speed: BudgetSpeed, amount: number): string {
  const limits = BUDGET_LIMITS[speed];
  const per = speed === 'full' ? 'frame' : speed === 'high' ? 'microframe' : '125 µs';
  return `${Math.round(amount * 100) / 100} ${limits.unit} per ${per}`;
}
