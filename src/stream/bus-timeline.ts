/**
 * The host's view of the bus clock, for an isochronous stream: when each bus interval happened, on
 * CLOCK_MONOTONIC, from when transfers completed.
 *
 * Iso transfers follow each other on the bus, one packet per service interval, so every packet has a position
 * on the bus: the intervals since the first transfer began (the packets of every transfer before it, plus the
 * intervals the transport says went by with none in flight). A transfer's completion reaches JavaScript some
 * varying time after its last interval, never before. The line under the (end position, completion) points
 * (envelope-window.ts) is then the bus clock itself, its slope the host controller's rate against
 * CLOCK_MONOTONIC; every completion gives a point, whether or not its packets carry an SCR or data. A position's
 * host time read from this line is as good as the least delayed completion in the window, not as late as its
 * own transfer happened to be: that is what lets a camera with one SCR per frame (UVC 1.5), or with none at
 * all, be timed as well as one that stamps every packet. (uvcvideo reads the host controller's frame counter
 * for the same purpose; libusb does not expose it.)
 *
 * Until the line is settled (a rate within 0.1 % of CLOCK_MONOTONIC's, its own error estimate under 25 µs),
 * completions date packets by themselves. A completion earlier than the line allows means the count of
 * intervals is wrong (more intervals reported lost than were): the timeline starts over.
 */
import { EnvelopeWindow } from './envelope-window.js';

/** A host controller's clock is within this of CLOCK_MONOTONIC's rate, or this is no bus clock. */
const MAX_RATE_ERROR = 0.001;
/** Refit the line at most this often (bus time); in between it is read as last fitted. */
const REFIT_EVERY_NS = 32_000_000;
/** A completion this much earlier than the line (besides the line's own error) breaks the count. */
const EARLY_TOLERANCE_NS = 250_000;

export class BusTimeline {
  private readonly window: EnvelopeWindow;
  private running = false;
  /** Bus position of the end of the latest transfer, in nominal ns. */
  private endNs = 0;
  private baseHostNs = 0;
  private lastFitNs = Number.NEGATIVE_INFINITY;
  private runs = 0;

  /** `fullRefit`: refit the line over the whole window every time (envelope-window.ts: the tests' reference). */
  constructor(
    private readonly intervalNs: number,
    options: { fullRefit?: boolean } = {},
  ) {
    this.window = new EnvelopeWindow({
      windowNs: 10_000_000_000,
      bucketNs: 4_000_000,
      fitSpanNs: 1_000_000_000,
      priorSlopeError: 50e-6,
      lockSpanNs: 250_000_000,
      lockUncertaintyNs: 25_000,
      maxSlope: MAX_RATE_ERROR,
      refuseBeyondNs: Number.POSITIVE_INFINITY,
      fullRefit: options.fullRefit === true,
    });
  }

  /** A new stream. */
  reset(): void {
    this.running = false;
    this.window.clear();
    this.lastFitNs = Number.NEGATIVE_INFINITY;
  }

  /** Times the count of intervals started over (a new stream, or intervals lost that were not reported). */
  get runCount(): number {
    return this.runs;
  }

  /** The error estimate of the dates the timeline gives, ns (0 while it gives none: completions date packets). */
  get uncertaintyNs(): number {
    const fit = this.window.lastFit;
    return fit !== null && fit.locked ? fit.uncertainty : 0;
  }

  /**
   * A completed iso transfer of `packetCount` intervals, `lostIntervals` after the previous one, that reached
   * JavaScript at `completedAtNs`. Returns how much later that is than the timeline says the transfer ended
   * (≥ 0): less this, the completion time dates its packets as well as the least delayed completion would.
   */
  transfer(packetCount: number, lostIntervals: number, completedAtNs: number): number {
    if (!this.running) {
      this.running = true;
      this.runs++;
      this.endNs = packetCount * this.intervalNs;
      this.baseHostNs = completedAtNs - this.endNs;
      this.lastFitNs = Number.NEGATIVE_INFINITY;
    } else {
      this.endNs += (lostIntervals + packetCount) * this.intervalNs;
    }
    const u = this.endNs;
    const y = completedAtNs - this.baseHostNs - u;
    let fit = this.window.lastFit;
    if (fit !== null && fit.locked && y - (fit.intercept + fit.slope * u) < -(EARLY_TOLERANCE_NS + fit.uncertainty)) {
      // Earlier than the bus allows: intervals went by that were not counted. Start over from this transfer.
      this.reset();
      return this.transfer(packetCount, 0, completedAtNs);
    }
    this.window.add(u, y);
    if (u - this.lastFitNs >= REFIT_EVERY_NS) {
      fit = this.window.fit();
      this.lastFitNs = u;
    }
    // Only a settled line dates packets: one whose rate is that of a bus clock. Intervals the transport failed to
    // count make completions look ever later, which tilts the line beyond any clock's rate: it never settles.
    if (fit === null || !fit.locked) return 0;
    return Math.max(0, y - (fit.intercept + fit.slope * u));
  }
}
