/**
 * What a capture counts as frames come in: frames written and skipped, errored frames, frames lost (gaps in the
 * sequence numbers the driver gives every frame), bytes, and the frame rate measured from the timestamps of the
 * frames delivered (errored ones too: they were captured). The driver's timestamps are capture instants on one
 * time base, strictly increasing, whose gaps are the camera's own (src/stream/frame-timestamps.ts), so two
 * frames already give the rate: no warm-up to discard, no arrival jitter to average out.
 */

export class CaptureStats {
  /** Frames the camera delivered (good and errored). */
  received = 0;
  /** Frames written to the output. */
  written = 0;
  /** Frames flagged by the driver (error flag) or failing the frame checks. */
  errors = 0;
  /** Errored frames not written (--drop-errored, the default). */
  dropped = 0;
  /** Frames the camera never delivered: gaps in the sequence numbers. */
  lost = 0;
  /** Frame bytes delivered by the camera. */
  bytesReceived = 0;
  /** Bytes written to the output (frames, inserted Huffman tables, PNGs). */
  bytesWritten = 0;
  private nextSequence = 0;
  private firstTimestamp = 0;
  private lastTimestamp = 0;
  /** Recent timestamps, for the live rate. */
  private readonly recent: number[] = [];

  /** Counts a delivered frame; returns the frames lost just before it. */
  frame(sequence: number, timestampNs: number, bytes: number): number {
    this.received++;
    this.bytesReceived += bytes;
    const gap = sequence > this.nextSequence ? sequence - this.nextSequence : 0;
    this.lost += gap;
    this.nextSequence = Math.max(this.nextSequence, sequence + 1);
    if (this.received === 1) this.firstTimestamp = timestampNs;
    this.lastTimestamp = timestampNs;
    this.recent.push(timestampNs);
    if (this.recent.length > 31) this.recent.shift();
    return gap;
  }

  /** Frames per second over the whole capture, from the first to the last frame's timestamp. */
  get fps(): number {
    return rate(this.received, this.firstTimestamp, this.lastTimestamp);
  }

  /** Frames per second over the last 30 frames. */
  get recentFps(): number {
    return rate(this.recent.length, this.recent[0] ?? 0, this.recent.at(-1) ?? 0);
  }
}

function rate(frames: number, first: number, last: number): number {
  if (frames < 2 || last <= first) return 0;
  return ((frames - 1) * 1e9) / (last - first);
}
