/**
 * The baseline: Linux uvcvideo's hardware timestamp recovery (uvc_video.c: uvc_video_clock_decode,
 * uvc_video_clock_add_sample, uvc_video_clock_update, as of the 2024-2026 patches: windows that are not full
 * are used once they span 250 ms of device SOF, a full window always; samples older than two SOF wraps are
 * dropped; the SunplusIT empty-packet filter; the INVALID_DEVICE_SOF quirk), written again from its description
 * in TypeScript so the bench can run it on the payloads our driver saw. Not our code's design: a reference.
 *
 * What it does: keep the last 32 SCR samples with distinct SOF, each paired with the host controller's frame
 * number and the host time when the packet was decoded; map a PTS to device SOF by the straight line through
 * the first and last samples (STC → SOF), then that SOF to host time by the line through the same two samples'
 * (host SOF → host time). Integer arithmetic as the kernel does it (SOF in 11.16 fixed point, u32/u64 wraps).
 * Until the window allows it, the buffer keeps its software timestamp: the host time when its first payload
 * was decoded.
 *
 * The kernel reads the host controller's frame counter (usb_get_current_frame_number) in the completion
 * handler, at the same instant as the host time: the bench gives this port the bus frame number at each
 * transfer's completion, which the virtual camera knows. A userspace driver has no such counter.
 */

interface Sample {
  devStc: number;
  /** 11-bit device SOF (after the offset correction). */
  devSof: number;
  /** The host controller's frame number when the packet was decoded. */
  hostSof: number;
  hostTimeNs: number;
}

const SIZE = 32;
const U32 = 0x1_0000_0000n;
const U64_MASK = (1n << 64n) - 1n;

export interface UvcvideoClockOptions {
  /** UVC_QUIRK_INVALID_DEVICE_SOF: take the host's frame number instead of the device's SOF. */
  invalidDeviceSof?: boolean;
}

export class UvcvideoClock {
  private readonly samples: Sample[] = [];
  private head = 0;
  private count = 0;
  private lastSof = -1;
  private lastSofOverflow = -1;
  private sofOffset = -1;
  private readonly invalidDeviceSof: boolean;

  constructor(options: UvcvideoClockOptions = {}) {
    this.invalidDeviceSof = options.invalidDeviceSof === true;
  }

  reset(): void {
    this.head = 0;
    this.count = 0;
    this.lastSof = -1;
    this.lastSofOverflow = -1;
    this.sofOffset = -1;
  }

  /**
   * uvc_video_clock_decode for a payload with an SCR. `emptyPacketNoData`: the payload is header-only and the
   * current buffer holds no data (the SunplusIT filter then drops an all-zero SCR).
   */
  decode(devStc: number, rawDevSof: number, hostSof: number, hostTimeNs: number, emptyPacketNoData: boolean): void {
    if (emptyPacketNoData && devStc === 0 && rawDevSof === 0) return;
    // Drop SCRs with the same SOF as the previous one (UVC 1.5 repeats it across a frame).
    if (rawDevSof === this.lastSof) return;
    this.lastSof = rawDevSof;
    let devSof = rawDevSof;
    if (this.invalidDeviceSof) devSof = hostSof;
    // A device counting its own frames differs from the bus by a fixed offset, estimated on the first sample.
    if (this.sofOffset === -1) {
      const delta = (hostSof - devSof) & 255;
      this.sofOffset = delta >= 10 ? delta : 0;
    }
    devSof = (devSof + this.sofOffset) & 2047;
    this.addSample({ devStc: devStc >>> 0, devSof, hostSof: hostSof & 2047, hostTimeNs });
  }

  private addSample(sample: Sample): void {
    if (this.head === this.lastSofOverflow) this.lastSofOverflow = -1;
    const previous = this.count > 0 ? this.samples[(this.head - 1 + SIZE) % SIZE]! : null;
    if (previous !== null && previous.devSof > sample.devSof) {
      // An SOF wrap: only one is supported per window, so drop what came before the previous one.
      if (this.lastSofOverflow !== -1) this.count = (this.head - this.lastSofOverflow + SIZE) % SIZE;
      this.lastSofOverflow = this.head;
    }
    this.samples[this.head] = sample;
    this.head = (this.head + 1) % SIZE;
    this.count = Math.min(this.count + 1, SIZE);
  }

  /** The host time of a frame with this PTS (uvc_video_clock_update), or NaN where uvcvideo keeps the software timestamp. */
  update(pts: number): number {
    if (this.count < 2) return Number.NaN;
    const first = this.samples[(this.head - this.count + SIZE) % SIZE]!;
    const last = this.samples[(this.head - 1 + SIZE) % SIZE]!;

    // PTS → device SOF, through the line between the window's ends (u32 arithmetic, PTS moved to 2^31).
    const deltaStc = BigInt((pts - 0x8000_0000) >>> 0);
    const x1 = (BigInt(first.devStc) - deltaStc + U32) % U32;
    const x2 = (BigInt(last.devStc) - deltaStc + U32) % U32;
    if (x1 === x2) return Number.NaN;
    const y1 = BigInt((first.devSof + 2048) << 16);
    let y2 = BigInt((last.devSof + 2048) << 16);
    if (y2 < y1) y2 += 2048n << 16n;
    // Not full and under 250 ms of SOF: keep the software timestamp.
    if (this.count !== SIZE && y2 - y1 < 250n << 16n) return Number.NaN;
    let y = ((y2 - y1) * (1n << 31n) + y1 * x2 - y2 * x1) & U64_MASK;
    y = y / ((x2 - x1) & (U32 - 1n)); // u32 difference, non-zero (x1 ≠ x2)
    let sof = Number(y & (U32 - 1n));

    // SOF → host time, through the host SOF and time of the same two samples.
    const hx1 = BigInt((hostSofOf(first) + 2048) << 16);
    let hx2 = BigInt((hostSofOf(last) + 2048) << 16);
    if (hx2 < hx1) hx2 += 2048n << 16n;
    if (hx1 === hx2) return Number.NaN;
    const ty1 = 1_000_000_000n;
    const ty2 = (BigInt(Math.round(last.hostTimeNs - first.hostTimeNs)) & (U32 - 1n)) + ty1;
    // The interpolated SOF and the host SOF may wrap at different times: keep it near the samples' mean.
    const mean = Number((hx1 + hx2) / 2n);
    if (mean - (1024 << 16) > sof) sof += 2048 << 16;
    else if (sof > mean + (1024 << 16)) sof -= 2048 << 16;
    let t = ((ty2 - ty1) * BigInt(sof >>> 0) + ty1 * hx2 - ty2 * hx1) & U64_MASK;
    t = t / (hx2 - hx1);
    return first.hostTimeNs + Number(t - ty1);
  }
}

/** uvc_video_clock_host_sof: the host frame number may have fewer than 11 bits; rebuild it near the device SOF. */
function hostSofOf(sample: Sample): number {
  let delta = (sample.hostSof - sample.devSof) & 255;
  if (delta >= 128) delta -= 256; // an s8
  return (sample.devSof + delta) & 2047;
}

/** A frame as the uvcvideo port timestamped it. */
export interface UvcvideoFrame {
  /** PTS of the frame's payloads (null: none carried one). */
  pts: number | null;
  /** What uvcvideo would report: the hardware timestamp, or the software one when the window does not allow it. */
  timestampNs: number;
  hardware: boolean;
  /** Payload bytes the buffer received. */
  bytes: number;
}

const FID = 0x01;
const EOF_BIT = 0x02;
const PTS_BIT = 0x04;
const SCR_BIT = 0x08;

/**
 * The part of uvcvideo's payload decoding that decides timestamps (uvc_video_decode_start / decode_end):
 * which payload starts a buffer (a FID change; the software timestamp is the host time then), which ends it
 * (EOF, or the next FID change), the buffer's PTS (the last payload's that carries one), and the SCR samples
 * handed to the clock on the way. Feed it every iso packet in bus order.
 */
export class UvcvideoTimestamps {
  readonly clock: UvcvideoClock;
  readonly frames: UvcvideoFrame[] = [];
  private lastFid = -1;
  private active = false;
  private bytes = 0;
  private pts: number | null = null;
  private softwareNs = 0;

  constructor(options: UvcvideoClockOptions = {}) {
    this.clock = new UvcvideoClock(options);
  }

  /** One payload: `bytes[offset..offset+length)`, decoded at host time `hostTimeNs` with host frame number `hostSof`. */
  payload(bytes: Uint8Array, offset: number, length: number, hostTimeNs: number, hostSof: number): void {
    if (length < 2) return;
    const headerLength = bytes[offset]!;
    if (headerLength < 2 || headerLength > length) return;
    const info = bytes[offset + 1]!;
    const fid = info & FID;
    const dataLength = length - headerLength;
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, headerLength);
    // A FID change while a buffer holds data: that buffer is done; this payload starts the next.
    if (this.active && fid !== this.lastFid && this.bytes > 0) this.finish();
    if ((info & SCR_BIT) !== 0) {
      const scrAt = (info & PTS_BIT) !== 0 ? 6 : 2;
      if (headerLength >= scrAt + 6) {
        const stc = view.getUint32(scrAt, true);
        const sof = view.getUint16(scrAt + 4, true);
        this.clock.decode(stc, sof, hostSof, hostTimeNs, dataLength === 0 && !(this.active && this.bytes > 0));
      }
    }
    if (!this.active) {
      if (fid === this.lastFid) return; // out of sync: wait for the FID to toggle
      this.active = true;
      this.bytes = 0;
      this.pts = null;
      this.softwareNs = hostTimeNs;
    }
    this.lastFid = fid;
    if ((info & PTS_BIT) !== 0 && headerLength >= 6) this.pts = view.getUint32(2, true);
    this.bytes += dataLength;
    if ((info & EOF_BIT) !== 0 && this.bytes > 0) this.finish();
  }

  private finish(): void {
    this.active = false;
    const hardware = this.pts === null ? Number.NaN : this.clock.update(this.pts);
    const isHardware = !Number.isNaN(hardware);
    this.frames.push({ pts: this.pts, timestampNs: isHardware ? hardware : this.softwareNs, hardware: isHardware, bytes: this.bytes });
  }
}
