/**
 * The bulk video IN endpoint. The device cuts each frame into payloads of at most dwMaxPayloadTransferSize
 * bytes (header included) and sends each payload as max-packet-size packets. A short packet ends the host's
 * transfer; a payload that ends on a packet boundary below dwMaxPayloadTransferSize is closed with a
 * zero-length packet, while a full-size one is not (the host knows its size). So a payload may span host
 * transfers and a transfer may hold the end of one payload and the start of the next: a payload boundary is
 * not a transfer boundary. Between frames the device has nothing to send and NAKs: a transfer waits.
 *
 * Bus time: the pipe moves `bytesPerInterval`; a transfer completes when its last byte has crossed. In fast
 * pace the same accounting runs on virtual time and nothing ever waits for a capture instant.
 */
import type { DeviceReplyStatus, EndpointReply, EndpointRequest } from '../transport/device-model.js';
import { AbortWatch } from './abort-watch.js';
import type { CompletionDelay } from './completion-delay.js';
import { sofFrameNumber, type BusClock } from './bus-clock.js';
import { noteFault, type SentFrame } from './sent-frames.js';
import type { VideoStream } from './video-stream.js';

export interface BulkEndpointPort {
  /** The running stream; null until the host commits and starts reading. Called on every pump. */
  stream: () => VideoStream | null;
  maxPayload: number;
  maxPacket: number;
  bytesPerInterval: number;
  gone: () => void;
  /** Packet loss: whether a transfer of this many max-size packets is spoiled (it fails, its data lost). */
  lose: (packets: number) => boolean;
  /** The completionJitterMs fault: replies reach the host late, as through USB/IP. */
  delay: CompletionDelay;
}

interface Pending {
  request: EndpointRequest;
  filled: number;
  startInterval: number;
  /** Set once the transfer's content is final; it completes at bus interval `completeAt`. */
  outcome: 'ok' | 'overflow' | 'error' | null;
  /** Ground-truth records of the frames whose data it holds. */
  frames: SentFrame[];
  completeAt: number;
  resolve: (reply: EndpointReply) => void;
  detach: () => void;
}

interface OpenPayload {
  header: Uint8Array;
  body: Uint8Array;
  length: number;
  sent: number;
  /** The payload ended on a packet boundary below the maximum: a zero-length packet follows. */
  zlp: boolean;
  record: SentFrame | null;
}

export class BulkInEndpoint {
  private readonly queue: Pending[] = [];
  private readonly aborts = new AbortWatch<Pending>((p) => this.abort(p));
  private payload: OpenPayload | null = null;
  /** Bus time (fractional interval) at which the pipe is free again. */
  private cursor = 0;
  /** Waiting for the next capture instant (real time). */
  private fillTimer: NodeJS.Timeout | null = null;
  /** Waiting for the bytes of filled transfers to cross the bus (real time). */
  private completeTimer: NodeJS.Timeout | null = null;
  /** Waiting for a frame to render (fast pace). */
  private waiting = false;
  private closed = false;

  constructor(
    private readonly clock: BusClock,
    private readonly port: BulkEndpointPort,
  ) {}

  submit(request: EndpointRequest): Promise<EndpointReply> {
    return new Promise<EndpointReply>((resolve) => {
      if (this.closed) {
        resolve({ status: 'cancelled', actualLength: 0, startFrame: 0 });
        return;
      }
      const pending: Pending = {
        request,
        filled: 0,
        startInterval: this.clock.now(),
        outcome: null,
        frames: [],
        completeAt: 0,
        resolve,
        detach: () => {},
      };
      const signal = request.signal;
      if (signal) {
        if (signal.aborted) {
          resolve({ status: 'cancelled', actualLength: 0, startFrame: sofFrameNumber(this.clock, pending.startInterval) });
          return;
        }
        pending.detach = this.aborts.watch(signal, pending);
      }
      this.queue.push(pending);
      this.pump();
    });
  }

  /** Fails every queued request; the stream behind the endpoint is over (halt, alt setting, unplug). */
  close(status: DeviceReplyStatus): void {
    this.closed = true;
    this.clearTimers();
    for (const p of this.queue.splice(0)) this.finish(p, status);
    this.port.delay.flush();
    this.payload = null;
  }

  /** A new stream starts (a COMMIT while streaming): drop the half-sent payload of the old one. */
  restart(): void {
    this.payload = null;
    this.pump();
  }

  private clearTimers(): void {
    if (this.fillTimer) clearTimeout(this.fillTimer);
    if (this.completeTimer) clearTimeout(this.completeTimer);
    this.fillTimer = null;
    this.completeTimer = null;
  }

  private finish(p: Pending, status: DeviceReplyStatus): void {
    p.detach();
    const reply: EndpointReply = {
      status,
      actualLength: status === 'ok' || status === 'overflow' ? p.filled : 0,
      startFrame: sofFrameNumber(this.clock, p.startInterval),
    };
    this.port.delay.deliver(() => p.resolve(reply));
  }

  private abort(p: Pending): void {
    const i = this.queue.indexOf(p);
    if (i < 0) return;
    this.queue.splice(i, 1);
    // Bytes already in an aborted transfer are lost with it, as on a real host controller: the frames they
    // belong to cannot reach the host whole.
    if (p.filled > 0) for (const record of p.frames) noteFault(record, 'host-cancelled');
    this.finish(p, 'cancelled');
    this.pump();
  }

  /**
   * Fills queued transfers in order as far as the stream allows (content is decided when the bytes would
   * cross the bus, which may be ahead of the wall clock), then completes those whose bytes have crossed.
   */
  private pump(): void {
    while (!this.closed) {
      this.fillQueued();
      if (this.closed) return;
      let completed = false;
      while (this.queue.length > 0 && this.queue[0]!.outcome !== null) {
        const head = this.queue[0]!;
        if (this.clock.pace === 'fast') this.clock.advanceTo(head.completeAt);
        else if (head.completeAt > this.clock.now()) {
          if (this.completeTimer === null) {
            this.completeTimer = setTimeout(() => {
              this.completeTimer = null;
              this.pump();
            }, this.clock.msUntil(head.completeAt));
          }
          return;
        }
        this.queue.shift();
        this.finish(head, head.outcome!);
        completed = true;
      }
      // In fast pace a completion frees nothing on the bus, but new heads may now be fillable.
      if (!completed || this.clock.pace !== 'fast') return;
    }
  }

  private fillQueued(): void {
    if (this.waiting || this.fillTimer !== null) return;
    for (const p of this.queue) {
      if (p.outcome !== null) continue;
      const stream = this.port.stream();
      if (stream === null) return; // nothing committed yet: the device NAKs until the host aborts
      this.cursor = Math.max(this.cursor, this.clock.now());
      const outcome = this.fill(p, stream);
      if (outcome === 'gone') {
        // The device left the bus as it was about to send the next frame: the transfers it had already filled went
        // out before that (in order), what this transfer already holds arrives, everything else fails.
        for (const sent of this.queue.filter((q) => q.outcome !== null)) {
          this.queue.splice(this.queue.indexOf(sent), 1);
          this.finish(sent, sent.outcome!);
        }
        if (p.filled > 0) {
          this.queue.splice(this.queue.indexOf(p), 1);
          this.finish(p, 'ok');
        }
        this.port.gone();
        return;
      }
      if (outcome === 'pending') return;
      p.outcome = outcome;
      if (this.port.lose(Math.ceil(p.filled / this.port.maxPacket))) {
        // Spoiled on the bus: the host controller gives up on the transfer, and its data is gone.
        p.outcome = 'error';
        for (const record of p.frames) noteFault(record, 'packet-loss');
      }
      p.completeAt = Math.ceil(this.cursor);
    }
  }

  /**
   * Fills the head transfer. Returns 'ok' / 'overflow' when it is complete, 'pending' when it must wait
   * (for a capture, a render, or bus time), 'gone' when the unplug-at-frame fault fired.
   */
  private fill(p: Pending, stream: VideoStream): 'ok' | 'overflow' | 'pending' | 'gone' {
    const { maxPacket, maxPayload, bytesPerInterval } = this.port;
    const buffer = p.request.buffer;
    for (;;) {
      if (this.payload === null) {
        const t = Math.floor(this.cursor);
        const choice = stream.choose(t);
        if (choice.kind === 'gone') return 'gone';
        if (choice.kind === 'wait') {
          this.waiting = true;
          void choice.ready.then(() => {
            this.waiting = false;
            this.pump();
          });
          return 'pending';
        }
        if (choice.kind === 'idle') {
          if (!Number.isFinite(choice.until)) return 'pending';
          // Real time only: the next frame is captured at `until`; the transfer waits (NAK) until then.
          this.cursor = Math.max(this.cursor, choice.until);
          const ms = this.clock.msUntil(Math.ceil(choice.until));
          if (ms > 0) {
            this.fillTimer = setTimeout(() => {
              this.fillTimer = null;
              this.pump();
            }, ms);
            return 'pending';
          }
          continue;
        }
        const payload = stream.nextPayload(t, maxPayload);
        this.payload = {
          header: payload.header.slice(0, payload.headerLength),
          body: payload.body,
          length: payload.length,
          sent: 0,
          zlp: payload.length < maxPayload && payload.length % maxPacket === 0,
          record: payload.record,
        };
      }
      const open = this.payload;
      if (open.record !== null && p.frames[p.frames.length - 1] !== open.record) p.frames.push(open.record);
      const remaining = open.length - open.sent;
      const room = buffer.length - p.filled;
      // Whole packets that fit both the payload and the host's buffer move in one go.
      const whole = Math.floor(Math.min(remaining, room) / maxPacket) * maxPacket;
      if (whole > 0) {
        this.copy(open, open.sent, whole, buffer, p.filled);
        p.filled += whole;
        this.cursor += whole / bytesPerInterval;
        this.advance(open, whole);
        if (p.filled === buffer.length) return 'ok';
        continue;
      }
      // One packet: the payload's short last packet, its zero-length packet, or a full packet with no room.
      const size = Math.min(maxPacket, remaining);
      if (size > room) {
        // Babble: a packet larger than what is left of the host's buffer.
        this.copy(open, open.sent, room, buffer, p.filled);
        p.filled += room;
        this.advance(open, size);
        return 'overflow';
      }
      this.copy(open, open.sent, size, buffer, p.filled);
      p.filled += size;
      this.cursor += Math.max(size, 1) / bytesPerInterval;
      this.advance(open, size);
      // A short packet (a zero-length one included) ends the transfer.
      return 'ok';
    }
  }

  private advance(open: OpenPayload, size: number): void {
    open.sent += size;
    if (open.sent >= open.length) {
      if (open.zlp && size > 0) return; // the zero-length packet is still to come
      this.payload = null;
    }
  }

  private copy(open: OpenPayload, from: number, count: number, target: Uint8Array, at: number): void {
    const h = open.header.length;
    let n = count;
    let src = from;
    let dst = at;
    if (src < h && n > 0) {
      const k = Math.min(n, h - src);
      target.set(open.header.subarray(src, src + k), dst);
      src += k;
      dst += k;
      n -= k;
    }
    if (n > 0) target.set(open.body.subarray(src - h, src - h + n), dst);
  }
}
