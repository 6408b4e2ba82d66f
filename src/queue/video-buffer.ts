/**
 * One buffer of a BufferQueue's pool: a fixed piece of memory the assembler writes frames into and the user reads
 * them from, with no copy in between (vb2's mmap buffers). The object and its memory live as long as the pool;
 * its fields describe the latest frame it carried, so read what you need before you queue it again.
 */

export type BufferState = 'dequeued' | 'queued' | 'active' | 'done' | 'error';

export interface BufferFlags {
  /** The frame is damaged or incomplete (ERR bit, lost packets, overflow, short frame, cancelled). */
  readonly error: boolean;
  /** The frame decodes on its own: an H.264 IDR, and every MJPEG or uncompressed frame. */
  readonly keyframe: boolean;
}

// Four shared frozen objects: flags never cost an allocation per frame.
const FLAGS: readonly BufferFlags[] = [
  Object.freeze({ error: false, keyframe: false }),
  Object.freeze({ error: true, keyframe: false }),
  Object.freeze({ error: false, keyframe: true }),
  Object.freeze({ error: true, keyframe: true }),
];

export function bufferFlags(error: boolean, keyframe: boolean): BufferFlags {
  return FLAGS[(error ? 1 : 0) | (keyframe ? 2 : 0)]!;
}

/** What an out-fence settles with; kept on the buffer while it is queued or active. */
export interface Fence {
  resolve(buffer: VideoBuffer): void;
  reject(error: unknown): void;
}

/** Identifies the pool a buffer belongs to, so buffers of a freed pool can never be mistaken for current ones. */
export interface BufferPoolTag {
  readonly generation: number;
}

export class VideoBuffer {
  /** Position in the pool: what qbuf and querybuf take. */
  readonly index: number;
  /** Bytes of memory (the committed dwMaxVideoFrameSize). */
  readonly length: number;
  /**
   * The whole buffer memory, `length` bytes. The assembler writes here; after dqbuf the first `bytesused` bytes
   * are the frame. Writable: a buffer you hold is yours until you queue it again.
   */
  readonly memory: Uint8Array;
  /** @internal The pool this buffer belongs to. */
  readonly pool: BufferPoolTag;

  /** @internal */ _state: BufferState = 'dequeued';
  /** @internal */ _bytesused = 0;
  /** @internal */ _sequence = -1;
  /** @internal */ _timestamp = 0;
  /** @internal */ _flags: BufferFlags = FLAGS[0]!;
  /** @internal Pending out-fence while queued or active. */
  _fence: Fence | null = null;
  /** @internal Counts activations, so a driver can tell its activation from a later one. */
  _activation = 0;
  private dataView: Uint8Array | null = null;

  /** @internal Only BufferQueue creates buffers. */
  constructor(index: number, memory: Uint8Array, pool: BufferPoolTag) {
    this.index = index;
    this.memory = memory;
    this.length = memory.length;
    this.pool = pool;
  }

  /** Where the buffer is: with the user ('dequeued'), waiting in the queue, being filled, or done (good or error). */
  get state(): BufferState {
    return this._state;
  }
  /** Bytes of the frame, from the start of `memory`. */
  get bytesused(): number {
    return this._bytesused;
  }
  /**
   * Frame counter of the stream: a gap between two dequeued buffers means frames were lost. -1 for a buffer
   * that comes back without a frame (cancelled by the driver or by a disconnect; flagged error, bytesused 0).
   */
  get sequence(): number {
    return this._sequence;
  }
  /** CLOCK_MONOTONIC nanoseconds (the clock of process.hrtime): when the frame was captured, as well as known. */
  get timestamp(): number {
    return this._timestamp;
  }
  get flags(): BufferFlags {
    return this._flags;
  }
  /** The frame: a view of the first `bytesused` bytes of `memory` (no copy). `memory` is the whole buffer. */
  get data(): Uint8Array {
    let view = this.dataView;
    if (view === null || view.length !== this._bytesused) {
      view = this.memory.subarray(0, this._bytesused);
      this.dataView = view;
    }
    return view;
  }

  toJSON(): Record<string, unknown> {
    return {
      index: this.index,
      state: this._state,
      bytesused: this._bytesused,
      length: this.length,
      sequence: this._sequence,
      timestamp: this._timestamp,
      flags: this._flags,
    };
  }
}
