/**
 * Frames of several cameras paired by time: `for await (const set of pairFrames([left, right]))` yields one
 * frame of each camera at a time, whose timestamps lie within a tolerance of each other (default: half the
 * shortest frame interval of the cameras), for stereo and multi-angle rigs.
 *
 * Sets are formed in time order from each queue's oldest frame: while the oldest frames do not all lie within the
 * tolerance of the newest of them, the ones too old to be paired (nothing later can come closer) are given back
 * to their queue unpaired; once they do, they are a set. Frames are never reordered or paired twice. Timestamps
 * are the buffers' (CLOCK_MONOTONIC ns, from the cameras' PTS when their clocks are recovered), so the pairing is
 * as good as they are.
 *
 * Ownership as in QueueHandle.frames(): a set's buffers are yours until the next step, which queues them again
 * (unless you did, or streaming stopped); leaving the loop early leaves the last set with you. What ends it:
 * streamoff of any queue, or `signal`, ends the loop; a camera that goes away makes it throw ENXIO naming that
 * source (details.source) after giving back the frames it held: the other cameras keep streaming, and a new
 * pairing over them can go on.
 */
import { isUvcError, UvcError } from '../errors.js';
import type { QueueHandle, VideoBuffer } from '../queue/index.js';
import type { Camera } from './camera.js';

export interface PairFramesOptions {
  /** Widest spread of timestamps (ns) a set may have. Default: half the shortest frame interval of the cameras (required for bare queues). */
  toleranceNs?: number;
  /** Ends the loop when it aborts. */
  signal?: AbortSignal;
  /** Fail with ETIMEDOUT when a queue has no frame within this many ms. Default: wait while streaming. */
  timeoutMs?: number;
  /**
   * Called with every frame taken from a queue, paired or not, before the pairing decides on it (a capture that
   * writes every frame). The buffer is queued again after the promise settles (if unpaired).
   */
  onFrame?: (source: number, buffer: VideoBuffer) => void | Promise<void>;
}

export interface FrameSet {
  /** One buffer per source, in the order the sources were given. */
  frames: VideoBuffer[];
  /** Timestamp of each frame minus the first's, ns. */
  offsetsNs: number[];
  /** Latest minus earliest timestamp, ns (≤ the tolerance). */
  spreadNs: number;
}

export interface PairingStats {
  sets: number;
  /** Frames given back without a partner, per source. */
  unpaired: number[];
  toleranceNs: number;
}

type Source = Camera | QueueHandle;

function isCamera(source: Source): source is Camera {
  return typeof (source as Camera).setFormat === 'function';
}

function defaultTolerance(sources: readonly Source[]): number {
  let shortest = Infinity;
  for (const [i, source] of sources.entries()) {
    if (!isCamera(source)) throw new UvcError('EINVAL', `source ${i} is a bare queue: give toleranceNs, or pass the cameras`);
    const interval = source.format?.interval ?? 0;
    if (interval <= 0) throw new UvcError('EINVAL', `camera ${i} has no format yet: negotiate one (setFormat) before pairing`);
    shortest = Math.min(shortest, interval * 100);
  }
  return shortest / 2;
}

/** Pairs frames of several streaming cameras (or queues) by timestamp; see the file comment. */
export function pairFrames(sources: readonly Source[], options: PairFramesOptions = {}): FramePairing {
  if (!Array.isArray(sources) || sources.length < 2) throw new UvcError('EINVAL', 'pairFrames needs at least two cameras or queues');
  const tolerance = options.toleranceNs ?? defaultTolerance(sources);
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) throw new UvcError('EINVAL', `toleranceNs must be a non-negative number, got ${String(tolerance)}`);
  const queues = sources.map((s) => (isCamera(s) ? s.queue : s));
  if (new Set(queues).size !== queues.length) throw new UvcError('EINVAL', 'the same queue is given twice');
  return new FramePairing(queues, tolerance, options);
}

export class FramePairing implements AsyncIterableIterator<FrameSet> {
  private readonly iterators: Array<AsyncIterator<VideoBuffer>>;
  private readonly heads: Array<VideoBuffer | null>;
  private lastSet: VideoBuffer[] = [];
  private finished = false;
  private readonly counters: PairingStats;

  /** @internal Use pairFrames(). */
  constructor(
    private readonly queues: readonly QueueHandle[],
    private readonly toleranceNs: number,
    private readonly options: PairFramesOptions,
  ) {
    const framesOptions = { requeue: false, ...(options.signal ? { signal: options.signal } : {}), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) };
    this.iterators = queues.map((q) => q.frames(framesOptions));
    this.heads = queues.map(() => null);
    this.counters = { sets: 0, unpaired: queues.map(() => 0), toleranceNs: toleranceNs };
  }

  get stats(): Readonly<PairingStats> {
    return { ...this.counters, unpaired: [...this.counters.unpaired] };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<FrameSet>> {
    if (this.finished) return { done: true, value: undefined };
    for (const buffer of this.lastSet.splice(0)) this.giveBack(buffer);
    try {
      for (;;) {
        const ended = await this.fillHeads();
        if (ended) return await this.finish();
        if (this.heads.some((head) => head === null)) continue; // an unfilled buffer was skipped
        const heads = this.heads as VideoBuffer[];
        const newest = Math.max(...heads.map((b) => b.timestamp));
        let dropped = false;
        for (const [i, head] of heads.entries()) {
          if (head.timestamp >= newest - this.toleranceNs) continue;
          // Too old: every later frame of the others is newer still, so nothing can pair with it.
          this.counters.unpaired[i]!++;
          this.giveBack(head);
          this.heads[i] = null;
          dropped = true;
        }
        if (dropped) continue;
        const frames = [...heads];
        this.heads.fill(null);
        this.lastSet = frames;
        this.counters.sets++;
        const first = frames[0]!.timestamp;
        return {
          done: false,
          value: { frames, offsetsNs: frames.map((b) => b.timestamp - first), spreadNs: newest - Math.min(...frames.map((b) => b.timestamp)) },
        };
      }
    } catch (error) {
      await this.finish();
      throw error;
    }
  }

  /** Leaving the loop early: the last set stays with you; frames taken but not yielded go back to their queues. */
  async return(): Promise<IteratorResult<FrameSet>> {
    this.lastSet = [];
    return this.finish();
  }

  /** Takes a frame from every queue that has none pending; true when a loop ended (streamoff, signal). */
  private async fillHeads(): Promise<boolean> {
    const missing = this.heads.flatMap((head, i) => (head === null ? [i] : []));
    const results = await Promise.allSettled(missing.map((i) => this.iterators[i]!.next()));
    let ended = false;
    let failure: { source: number; error: unknown } | null = null;
    for (const [k, result] of results.entries()) {
      const source = missing[k]!;
      if (result.status === 'rejected') {
        failure ??= { source, error: result.reason };
      } else if (result.value.done === true) {
        ended = true;
      } else {
        const buffer = result.value.value;
        // A buffer handed back unfilled by an unplug is no frame: the loop's ENXIO follows.
        if (buffer.bytesused === 0 && buffer.sequence < 0) {
          this.giveBack(buffer);
          continue;
        }
        this.heads[source] = buffer;
        await this.options.onFrame?.(source, buffer);
      }
    }
    if (failure !== null) {
      const { source, error } = failure;
      if (isUvcError(error, 'ENXIO')) {
        throw new UvcError('ENXIO', `source ${source} went away (its camera was unplugged); the others keep streaming`, { cause: error, details: { source } });
      }
      throw error;
    }
    return ended;
  }

  private async finish(): Promise<IteratorResult<FrameSet>> {
    if (!this.finished) {
      this.finished = true;
      for (const [i, head] of this.heads.entries()) {
        if (head !== null) this.giveBack(head);
        this.heads[i] = null;
      }
      await Promise.allSettled(this.iterators.map((it) => it.return?.()));
    }
    return { done: true, value: undefined };
  }

  /** Queues a taken buffer again if it is still the user's and its queue still streams. */
  private giveBack(buffer: VideoBuffer): void {
    const queue = this.queues.find((q) => q.count > buffer.index && q.querybuf(buffer.index) === buffer);
    if (queue === undefined || buffer.state !== 'dequeued' || !queue.streaming || !queue.isOwner || queue.disconnected) return;
    try {
      queue.qbuf(buffer.index);
    } catch (error) {
      if (!isUvcError(error, 'ENXIO')) throw error;
    }
  }
}
