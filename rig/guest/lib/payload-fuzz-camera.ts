/**
 * The VirtualCamera with a hostile video function, for serve.ts (`--options`: VirtualCameraOptions plus `fuzzSeed`):
 * it enumerates, negotiates and answers controls as the camera does, but every reply of its video endpoint is
 * random (seeded): packets of random length (empty, short, full), payload headers of random bHeaderLength (0, 1,
 * longer than the packet, 255) and random bmHeaderInfo bits (FID, EOF, PTS, SCR, STI, ERR, EOH), random PTS/SCR
 * fields, random bytes after them, random per-packet status (OK, error, overflow) and random bulk transfer lengths.
 * A driver must take all of it without a crash or a memory error, flagging what it cannot use.
 */
import { PacketStatus, type EndpointReply, type EndpointRequest } from '../../../src/transport/device-model.js';
import type { VirtualCameraOptions } from '../../../src/virtual-camera/index.js';
import { RecordingCamera } from './virtual-camera-device.js';

/** mulberry32: the same seed gives the same stream on every machine. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export class PayloadFuzzCamera extends RecordingCamera {
  private readonly fuzzRandom: () => number;
  /** Replies scrambled so far (read with `call fuzzStats`). */
  private scrambled = { transfers: 0, packets: 0, bytes: 0 };

  constructor({ fuzzSeed, ...options }: VirtualCameraOptions & { fuzzSeed?: number }) {
    super(options);
    this.fuzzRandom = prng(fuzzSeed ?? 0x1f022);
  }

  private below(n: number): number {
    return n <= 0 ? 0 : this.fuzzRandom() % n;
  }

  /** Writes one random payload into `out` (at most out.length bytes); returns its length. */
  private payload(out: Uint8Array, room: number): number {
    const roll = this.below(10);
    const length = roll === 0 ? 0 : roll === 1 ? this.below(3) : roll < 5 ? room : this.below(room + 1);
    if (length === 0) return 0;
    for (let i = 0; i < length; i++) out[i] = this.below(256);
    // Mostly plausible headers (2, 6, 8 or 12 bytes), sometimes not: 0, 1, longer than the packet, 255.
    const h = this.below(8);
    out[0] = h < 4 ? [2, 6, 8, 12][h]! : h === 4 ? 0 : h === 5 ? 1 : h === 6 ? Math.min(255, length + 1 + this.below(8)) : 255;
    if (length > 1) out[1] = this.below(256) | (this.below(4) === 0 ? 0 : 0x80); // EOH set mostly
    return length;
  }

  override async transfer(request: EndpointRequest): Promise<EndpointReply> {
    const reply = await super.transfer(request);
    if (request.endpoint !== this.config.layout.videoEndpoint || reply.status !== 'ok') return reply;
    this.scrambled.transfers++;
    const buffer = request.buffer;
    const iso = request.iso;
    if (iso !== undefined) {
      let total = 0;
      for (let i = 0; i < iso.count; i++) {
        const room = Math.min(iso.lengths[i]!, buffer.length - iso.offsets[i]!);
        const n = this.payload(buffer.subarray(iso.offsets[i]!, iso.offsets[i]! + room), room);
        iso.actual[i] = n;
        const s = this.below(20);
        iso.status[i] = s === 0 ? PacketStatus.ERROR : s === 1 ? PacketStatus.OVERFLOW : PacketStatus.OK;
        total += n;
        this.scrambled.packets++;
      }
      this.scrambled.bytes += total;
      return { ...reply, actualLength: total };
    }
    // Bulk: one or more random payloads back to back, the transfer a random length.
    let at = 0;
    const end = this.below(8) === 0 ? buffer.length : this.below(buffer.length + 1);
    while (at < end) {
      const n = this.payload(buffer.subarray(at, end), end - at);
      if (n === 0) break;
      at += n;
      this.scrambled.packets++;
    }
    this.scrambled.bytes += at;
    return { ...reply, actualLength: at };
  }

  fuzzStats(): { transfers: number; packets: number; bytes: number } {
    return { ...this.scrambled };
  }
}

export default function makePayloadFuzzCamera(options: VirtualCameraOptions & { fuzzSeed?: number } = {}): PayloadFuzzCamera {
  return new PayloadFuzzCamera(options);
}
