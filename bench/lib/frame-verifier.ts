/**
 * Checks the frames a virtual camera stream delivers, so no speed is reported for wrong frames.
 *
 * The virtual camera stamps each frame with its sequence number; with `frameCache: N` it cycles N rendered
 * frames, so frame n carries stamp n mod N and the same bytes as every other frame n' ≡ n (mod N). The driver's
 * `sequence` counts frames from 0 as the camera sends them, so stamp = sequence mod N exactly.
 *
 * - `verifyFully` (warm-up and after timing): the stamp is read from the pixels and must equal sequence mod N;
 *   the first frame of each residue becomes the reference, later ones must match it byte for byte (checksum).
 *   MJPEG stamps need a JPEG decode (sharp, on libuv's thread pool): a 'fast' virtual camera whose frames are all
 *   cached never yields to the event loop while streaming, so those decodes wait for `finish()`, after the
 *   stream stopped and before any figure is reported.
 * - `verifyQuickly` (timed frames): not flagged, same size as the reference of its residue, 8 sampled bytes
 *   equal to it, and, when asked (the caller samples: a YUYV stamp read costs tens of µs), the stamp.
 */
import sharp from 'sharp';
import type { VideoBuffer } from '../../src/queue/video-buffer.js';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';
import { checksum } from './synthetic-stream.js';

interface Reference {
  data: Uint8Array;
  /** The sequence of the frame it was copied from. */
  sequence: number;
  checksum: number;
  spots: Int32Array;
}

export class FrameVerifier {
  private readonly referenceFrames = new Map<number, Reference>();
  framesVerifiedFully = 0;
  framesVerifiedQuickly = 0;
  stampsDecoded = 0;

  constructor(
    private readonly format: 'yuyv' | 'mjpeg',
    private readonly width: number,
    private readonly height: number,
    private readonly frameCache: number,
  ) {}

  verifyFully(buffer: VideoBuffer): void {
    this.checkBasics(buffer);
    const data = buffer.data;
    const residue = buffer.sequence % this.frameCache;
    if (this.format === 'yuyv') {
      const stamp = decodeFrameStamp({ data, width: this.width, height: this.height, format: 'yuyv' });
      this.stampsDecoded++;
      if (stamp !== residue) this.fail(buffer, `stamp ${stamp}, expected ${residue} (sequence ${buffer.sequence} mod ${this.frameCache})`);
    }
    const sum = checksum(data);
    const reference = this.referenceFrames.get(residue);
    if (reference === undefined) {
      const copy = data.slice();
      const n = copy.length;
      const spots = Int32Array.from([0, 1, (n * 0.13) | 0, (n * 0.37) | 0, (n * 0.61) | 0, (n * 0.89) | 0, n - 2, n - 1]);
      this.referenceFrames.set(residue, { data: copy, checksum: sum, spots, sequence: buffer.sequence });
    } else if (reference.checksum !== sum || reference.data.length !== data.length) {
      this.fail(buffer, `differs from the earlier frame with stamp ${residue}`);
    }
    this.framesVerifiedFully++;
  }

  /** How many of the N cached frames have a reference (verifyQuickly needs the one of its frame). */
  get references(): number {
    return this.referenceFrames.size;
  }

  verifyQuickly(buffer: VideoBuffer, readStamp: boolean): void {
    this.checkBasics(buffer);
    const residue = buffer.sequence % this.frameCache;
    const reference = this.referenceFrames.get(residue);
    if (reference === undefined) this.fail(buffer, `no verified reference for stamp ${residue} yet`);
    const memory = buffer.memory;
    if (buffer.bytesused !== reference.data.length) this.fail(buffer, `${buffer.bytesused} bytes, expected ${reference.data.length}`);
    const spots = reference.spots;
    for (let i = 0; i < spots.length; i++) {
      const at = spots[i]!;
      if (memory[at] !== reference.data[at]) this.fail(buffer, `byte ${at} differs from the reference`);
    }
    if (readStamp && this.format === 'yuyv') {
      const stamp = decodeFrameStamp({ data: buffer.data, width: this.width, height: this.height, format: 'yuyv' });
      this.stampsDecoded++;
      if (stamp !== residue) this.fail(buffer, `stamp ${stamp}, expected ${residue}`);
    }
    this.framesVerifiedQuickly++;
  }

  private checkBasics(buffer: VideoBuffer): void {
    if (buffer.flags.error) this.fail(buffer, 'flagged as an error');
    if (buffer.bytesused === 0) this.fail(buffer, 'empty');
  }

  /** MJPEG: decodes each reference and checks its stamp. Call once the stream has stopped. */
  async finish(): Promise<void> {
    if (this.format !== 'mjpeg') return;
    for (const [residue, reference] of this.referenceFrames) {
      const { data: grey, info } = await sharp(reference.data).greyscale().raw().toBuffer({ resolveWithObject: true });
      if (info.width !== this.width || info.height !== this.height) {
        this.fail(reference, `decodes to ${info.width}×${info.height}, expected ${this.width}×${this.height}`);
      }
      const stamp = decodeFrameStamp({ data: grey, width: info.width, height: info.height, format: 'grey' });
      this.stampsDecoded++;
      if (stamp !== residue) this.fail(reference, `stamp ${stamp}, expected ${residue} (sequence mod ${this.frameCache})`);
    }
  }

  private fail(frame: { sequence: number }, message: string): never {
    throw new Error(`frame ${frame.sequence} is wrong: ${message}`);
  }
}
