/**
 * The completionJitterMs fault: replies to video transfers reach the host late, by 0..N ms of real time, in
 * order and in bursts, out of step with the bus clock, as through USB/IP (a network, TCP and two hosts'
 * schedulers between the device and the driver): replies wait at the device's end of the link and go out
 * together at link flushes spaced a uniform random 0..N ms apart. Draws come from their own PRNG, seeded from
 * the camera's seed, so turning the fault on changes no other fault's draws.
 */
import { createRandom } from './faults.js';

export class CompletionDelay {
  private readonly random: () => number;
  private readonly held: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  /** Precise flushes: when the next one is due (host clock, ns). */
  private dueNs = 0;

  constructor(
    seed: number,
    /** The fault's current value (setFaults may change it). */
    private readonly jitterMs: () => number,
    /**
     * Flush when drawn, to the event loop's resolution (a timer to a millisecond before, then turns of the event
     * loop), instead of on the next millisecond timer tick, which would make every delay at least a millisecond.
     * The camera's preciseCompletions option.
     */
    private readonly precise = false,
  ) {
    this.random = createRandom((seed ^ 0x6a177e5) >>> 0);
  }

  /** Replies are being delayed (the fault is on, or replies given while it was are still held). */
  get active(): boolean {
    return this.jitterMs() > 0 || this.held.length > 0;
  }

  /** The largest delay the fault gives now. */
  get maxMs(): number {
    return this.jitterMs();
  }

  /** Runs `deliver` at the next link flush (at once when the fault is off and nothing is held). */
  deliver(deliver: () => void): void {
    if (this.jitterMs() <= 0 && this.held.length === 0) {
      deliver();
      return;
    }
    this.held.push(deliver);
    if (this.timer === null && this.immediate === null) {
      const delayMs = this.random() * Math.max(0, this.jitterMs());
      if (!this.precise) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.flush();
        }, delayMs);
      } else {
        this.dueNs = Number(process.hrtime.bigint()) + delayMs * 1e6;
        this.wait();
      }
    }
  }

  /** Precise flushes: a timer while the flush is more than two milliseconds away, then turns of the event loop. */
  private wait(): void {
    const leftMs = (this.dueNs - Number(process.hrtime.bigint())) / 1e6;
    if (leftMs <= 0) {
      this.flush();
    } else if (leftMs >= 2) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wait();
      }, leftMs - 1);
    } else {
      this.immediate = setImmediate(() => {
        this.immediate = null;
        this.wait();
      });
    }
  }

  /** Delivers everything held, now, in order (a link flush, or the endpoint closes). */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    for (const deliver of this.held.splice(0)) deliver();
  }
}
