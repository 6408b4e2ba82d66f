/**
 * The assembler's timestamp section: SCR samples go to clock recovery, each frame keeps its PTS and the arrival
 * time of its first packet, and a completed frame gets the host time of its PTS (or of that first packet when
 * the device clock cannot be used). Kept apart from frame assembly so timing can change without touching how
 * frames are cut; the assembler calls it in four places: sample, beginFrame, notePts, timestamp.
 */
import { PayloadHeader } from '../spec/uvc.js';
import { ClockRecovery } from './clock-recovery.js';
import { readU16, readU32 } from './payload-header.js';

const PTS = PayloadHeader.PTS;

export class FrameTiming {
  readonly clock: ClockRecovery | null;
  /** SOF of the last SCR handed to the clock (-1: none). */
  lastSof = -1;
  /** Host time (ns) of the current frame's first packet. */
  startNs = 0;
  /** The current frame's PTS, once a payload with data carried one. */
  pts = 0;
  hasPts = false;
  /** The last timestamp() came from the device clock. */
  fromDevice = false;

  constructor(clockFrequency: number | null) {
    this.clock = clockFrequency !== null && clockFrequency > 0 ? new ClockRecovery({ clockFrequency }) : null;
  }

  /** A new stream: forgets clock samples and the frame's times. */
  reset(): void {
    this.clock?.reset();
    this.lastSof = -1;
    this.startNs = 0;
    this.pts = 0;
    this.hasPts = false;
    this.fromDevice = false;
  }

  beginFrame(packetNs: number): void {
    this.startNs = packetNs;
    this.hasPts = false;
  }

  /** The PTS of the frame's first payload with data. */
  notePts(bytes: Uint8Array, offset: number): void {
    if (this.hasPts) return;
    this.pts = readU32(bytes, offset + 2);
    this.hasPts = true;
  }

  /**
   * An SCR sample (the header has one and the clock is used). `frameBytes` is the data buffered for the open
   * frame (0 between frames).
   */
  sample(bytes: Uint8Array, offset: number, info: number, hasData: boolean, frameBytes: number, packetNs: number): void {
    const at = offset + ((info & PTS) !== 0 ? 6 : 2);
    const sof = readU16(bytes, at + 4) & 0x7ff;
    // Most packets repeat the previous SOF (8 microframes per frame, or UVC 1.5's one SOF per video frame).
    if (sof === this.lastSof) return;
    const stc = readU32(bytes, at);
    // Some devices send all-zero SCRs in header-only packets before a frame's data (uvcvideo ignores them).
    if (stc === 0 && sof === 0 && !hasData && frameBytes === 0) return;
    this.lastSof = sof;
    this.clock!.addSample(stc, sof, packetNs);
  }

  /** The completed frame's timestamp (host clock, ns): its PTS translated, or its first packet's arrival. */
  timestamp(): number {
    this.fromDevice = false;
    if (this.hasPts && this.clock !== null) {
      const host = this.clock.toHostNs(this.pts);
      if (!Number.isNaN(host)) {
        this.fromDevice = true;
        return Math.round(host);
      }
    }
    return this.startNs;
  }
}
