/**
 * The isochronous video IN endpoint. Requests own consecutive bus intervals: one that arrives while others
 * are queued starts where the last one ends; one that arrives on an idle endpoint starts at the next interval.
 * In real-time pace a request completes when its last interval has passed (a timer), and the intervals in
 * which no request was queued are lost: the stream moves on without anyone listening. In fast pace requests
 * complete as soon as their packets are filled and virtual time advances by their length.
 *
 * Every interval's packet carries a payload header; video data follows while a frame is being sent, up to the
 * alternate setting's bytes per interval (and never more than the device's dwMaxPayloadTransferSize).
 *
 * A request the host cancels (an unlink: a transfer timeout, a stop) loses what it carries: the frames whose data
 * went into it get the 'host-cancelled' fault. In fast pace that is what the fill put in it before the abort (the
 * fill stops there); in real time, the intervals of it that had passed on the bus when the abort came.
 */
import type { DeviceReplyStatus, EndpointReply, EndpointRequest, IsoPacketSlots } from '../transport/device-model.js';
import { PacketStatus } from '../transport/device-model.js';
import { AbortWatch } from './abort-watch.js';
import type { CompletionDelay } from './completion-delay.js';
import { sofFrameNumber, type BusClock } from './bus-clock.js';
import { noteFault, type SentFrame } from './sent-frames.js';
import type { Payload, VideoStream } from './video-stream.js';

export interface IsoEndpointPort {
  stream: VideoStream;
  /** Bytes the device puts in one interval's packet, header included. */
  capacity: () => number;
  /** Whether intervals without video carry header-only packets or nothing. */
  idlePackets: 'header' | 'empty';
  /** Bus intervals between packets (2^(bInterval−1) at high speed). */
  step: number;
  /** Per-packet loss: null, or how a spoiled packet shows. Consulted once per packet. */
  lose: () => 'error' | 'missing' | null;
  /** The unplug-at-frame fault fired: the camera leaves the bus (and fails every request, this one too). */
  gone: () => void;
  /** The completionJitterMs fault: replies reach the host late, as through USB/IP. */
  delay: CompletionDelay;
  /** Real time: complete requests as close to their end as the event loop allows, not on millisecond ticks. */
  preciseCompletions: boolean;
}

interface Pending {
  request: EndpointRequest;
  iso: IsoPacketSlots;
  start: number;
  end: number;
  resolve: (reply: EndpointReply) => void;
  detach: () => void;
  /** Intervals that passed with no request queued just before this one: the host's loss (missedIntervals). */
  missed: number;
  /** Fast pace: the request is being filled; an abort is noted, stops the fill, and is honoured when it ends. */
  filling: boolean;
  aborted: boolean;
  /** Ground-truth records of the frames whose data it holds (fast pace). */
  frames: SentFrame[];
}

function emptyPackets(iso: IsoPacketSlots, status: number): void {
  for (let i = 0; i < iso.count; i++) {
    iso.actual[i] = 0;
    iso.status[i] = status;
  }
}

export class IsoInEndpoint {
  private readonly queue: Pending[] = [];
  private readonly aborts = new AbortWatch<Pending>((p) => this.abort(p));
  /** The first interval no request has been served for (the stream has been carried up to here). */
  private servedUntil: number;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private pumping = false;
  private closed = false;
  /**
   * The host's view while replies reach it late (completionJitterMs): requests it has not had back yet, and
   * since when (host clock, ns) it has had none in flight.
   */
  private hostInFlight = 0;
  private hostIdleSinceNs = -1;

  constructor(
    private readonly clock: BusClock,
    private readonly port: IsoEndpointPort,
    startInterval: number,
  ) {
    this.servedUntil = startInterval;
  }

  submit(request: EndpointRequest): Promise<EndpointReply> {
    const iso = request.iso!;
    return new Promise<EndpointReply>((resolve) => {
      if (this.closed) {
        emptyPackets(iso, PacketStatus.ERROR);
        resolve({ status: 'cancelled', actualLength: 0, startFrame: 0 });
        return;
      }
      const length = iso.count * this.port.step;
      const now = this.clock.now();
      const tail = this.queue[this.queue.length - 1];
      const linked = this.port.delay.active;
      let start =
        this.clock.pace === 'fast'
          ? Math.max(tail?.end ?? this.servedUntil, this.servedUntil, now)
          : Math.max(tail?.end ?? now + 1, this.servedUntil);
      // Behind a late link the device loses nothing while the host catches up (its remote host keeps requests
      // queued): a request goes on where the last one ended, unless the host is later than the link could hide.
      if (linked && tail === undefined && this.clock.pace === 'realtime') {
        start = Math.max(this.servedUntil, now + 1 - this.linkSlackIntervals());
      }
      const pending: Pending = {
        request,
        iso,
        start,
        end: start + length,
        resolve,
        detach: () => {},
        missed: linked ? this.hostMissed() : tail ? 0 : Math.max(0, start - this.servedUntil),
        filling: false,
        aborted: false,
        frames: [],
      };
      if (linked) this.hostInFlight++;
      const signal = request.signal;
      if (signal) {
        if (signal.aborted) {
          emptyPackets(iso, PacketStatus.ERROR);
          resolve({ status: 'cancelled', actualLength: 0, startFrame: sofFrameNumber(this.clock, start) });
          return;
        }
        pending.detach = this.aborts.watch(signal, pending);
      }
      this.queue.push(pending);
      this.schedule();
    });
  }

  /** Fails every queued request (alt setting change, halt, unplug). */
  close(status: DeviceReplyStatus): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    for (const p of this.queue.splice(0)) this.finish(p, status);
    this.port.delay.flush();
  }

  private finish(p: Pending, status: DeviceReplyStatus): void {
    p.detach();
    if (status !== 'ok') emptyPackets(p.iso, PacketStatus.ERROR);
    let actual = 0;
    for (let i = 0; i < p.iso.count; i++) actual += p.iso.actual[i]!;
    const reply: EndpointReply = {
      status,
      actualLength: status === 'ok' ? actual : 0,
      startFrame: sofFrameNumber(this.clock, p.start),
      missedIntervals: p.missed,
    };
    // The host counts idle bus time on its own clock from when it last had nothing in flight; behind a late
    // link that count starts from replies the device gave long before the host saw them.
    const completedNs = Number(process.hrtime.bigint());
    this.port.delay.deliver(() => {
      if (this.hostInFlight > 0 && --this.hostInFlight === 0) this.hostIdleSinceNs = completedNs;
      p.resolve(reply);
    });
  }

  /**
   * What the host's clock says was lost (as the addon counts it: the time with no request in flight, from the
   * reply that emptied its queue): over a late link, a loss the device never had.
   */
  private hostMissed(): number {
    if (this.hostInFlight > 0 || this.hostIdleSinceNs < 0) return 0;
    const idleNs = Number(process.hrtime.bigint()) - this.hostIdleSinceNs;
    return Math.max(0, Math.floor(idleNs / (this.clock.intervalUs * 1000 * this.port.step)));
  }

  /** How far behind real time a late link lets the host be before the device's data is lost anyway. */
  private linkSlackIntervals(): number {
    return Math.ceil((Math.max(1000, 4 * this.port.delay.maxMs) * 1000) / this.clock.intervalUs);
  }

  private abort(p: Pending): void {
    if (!this.queue.includes(p)) return;
    if (p.filling) {
      p.aborted = true;
      return;
    }
    if (this.clock.pace === 'realtime') this.cancelOnTheBus(p);
    const i = this.queue.indexOf(p);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.finish(p, 'cancelled');
    if (i === 0 && this.clock.pace === 'realtime') {
      // The timer was set for its end: the new head completes at its own.
      if (this.timer) clearTimeout(this.timer);
      if (this.immediate) clearImmediate(this.immediate);
      this.timer = null;
      this.immediate = null;
      this.schedule();
    }
  }

  /**
   * Real time: the host cancels a request some of whose intervals have already passed. The device sent the
   * stream into them, for this request: that data is lost with it (host-cancelled); the rest of its intervals
   * pass with no request (a bus gap, noted when the stream is carried over them).
   */
  private cancelOnTheBus(p: Pending): void {
    const now = this.clock.now();
    if (now <= p.start) return;
    // The requests before it own the intervals before its own: those whose time has come complete first (their
    // timer may not have fired yet).
    while (!this.closed && this.queue[0] !== p && this.queue[0]!.end <= now) {
      const head = this.queue[0]!;
      if (!this.carryTo(head.start) || !this.fillSync(head)) return;
      this.queue.shift();
      this.finish(head, 'ok');
    }
    if (this.closed || this.queue[0] !== p || !this.carryTo(p.start)) return;
    const until = Math.min(now, p.end);
    if (!this.port.stream.skip(p.start, until, this.port.capacity(), 'host-cancelled')) {
      this.port.gone();
      return;
    }
    this.servedUntil = until;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.clock.pace === 'fast') {
      void this.pumpFast();
      return;
    }
    if (this.timer !== null || this.immediate !== null || this.queue.length === 0) return;
    const head = this.queue[0]!;
    const ms = this.clock.msUntil(head.end);
    // Timers fire on whole-millisecond ticks. Precise completions: a timer to a millisecond before the end,
    // then turns of the event loop until it has passed (CPU for accuracy).
    const precise = this.port.preciseCompletions;
    if (precise && ms < 2) this.immediate = setImmediate(() => this.wake());
    else this.timer = setTimeout(() => this.wake(), precise ? ms - 1 : ms);
  }

  private wake(): void {
    this.timer = null;
    this.immediate = null;
    this.pumpRealtime();
  }

  private pumpRealtime(): void {
    const now = this.clock.now();
    while (!this.closed && this.queue.length > 0 && this.queue[0]!.end <= now) {
      const head = this.queue[0]!;
      if (!this.carryTo(head.start)) return;
      if (!this.fillSync(head)) return;
      this.queue.shift();
      this.finish(head, 'ok');
    }
    this.schedule();
  }

  private async pumpFast(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && this.queue.length > 0) {
        const head = this.queue[0]!;
        head.filling = true;
        const ok = await this.fillFast(head);
        head.filling = false;
        if (!ok || this.closed) return;
        this.queue.shift();
        this.clock.advanceTo(head.end);
        this.servedUntil = head.end;
        if (head.aborted) for (const record of head.frames) noteFault(record, 'host-cancelled');
        this.finish(head, head.aborted ? 'cancelled' : 'ok');
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Real time: what the device sent while no request listened is gone, but the stream went on sending it. */
  private carryTo(start: number): boolean {
    if (start > this.servedUntil) {
      if (!this.port.stream.skip(this.servedUntil, start, this.port.capacity())) {
        this.port.gone();
        return false;
      }
    }
    this.servedUntil = start;
    return true;
  }

  /**
   * The device left the bus at packet i: the packets it did send stay, the rest fail, the request completes,
   * and then every other request learns the device is gone.
   */
  private vanishAt(p: Pending, i: number): void {
    for (let k = i; k < p.iso.count; k++) {
      p.iso.actual[k] = 0;
      p.iso.status[k] = PacketStatus.ERROR;
    }
    const index = this.queue.indexOf(p);
    if (index >= 0) this.queue.splice(index, 1);
    this.finish(p, 'ok');
    this.port.gone();
  }

  private fillSync(p: Pending): boolean {
    for (let i = 0; i < p.iso.count; i++) {
      const t = p.start + i * this.port.step;
      const choice = this.port.stream.choose(t);
      if (choice.kind === 'gone') {
        this.vanishAt(p, i);
        return false;
      }
      this.putPacket(p, i, choice.kind === 'frame' ? this.port.stream.nextPayload(t, this.port.capacity()) : this.idle(t));
    }
    this.servedUntil = p.end;
    return true;
  }

  private async fillFast(p: Pending): Promise<boolean> {
    for (let i = 0; i < p.iso.count; i++) {
      const t = p.start + i * this.port.step;
      let choice = this.port.stream.choose(t);
      while (choice.kind === 'wait') {
        await choice.ready;
        if (this.closed) return false;
        // Cancelled while it waited for a render: the next frame goes to the next request, not into this one.
        if (p.aborted) return true;
        choice = this.port.stream.choose(t);
      }
      if (choice.kind === 'gone') {
        p.filling = false;
        this.vanishAt(p, i);
        return false;
      }
      this.putPacket(p, i, choice.kind === 'frame' ? this.port.stream.nextPayload(t, this.port.capacity()) : this.idle(t));
    }
    return true;
  }

  private idle(t: number): Payload | null {
    return this.port.idlePackets === 'empty' ? null : this.port.stream.idlePayload(t);
  }

  private putPacket(p: Pending, i: number, payload: Payload | null): void {
    const { iso, request } = p;
    const loss = this.port.lose();
    if (loss !== null || payload === null) {
      if (payload !== null) this.port.stream.payloadLost(payload);
      iso.actual[i] = 0;
      iso.status[i] = loss === 'error' ? PacketStatus.ERROR : PacketStatus.OK;
      return;
    }
    const offset = iso.offsets[i]!;
    const room = Math.min(iso.lengths[i]!, request.buffer.length - offset);
    if (payload.length > room || offset < 0) {
      // Babble: the device sent more than the host made room for.
      this.port.stream.payloadLost(payload);
      iso.actual[i] = 0;
      iso.status[i] = PacketStatus.OVERFLOW;
      return;
    }
    request.buffer.set(payload.header.subarray(0, payload.headerLength), offset);
    request.buffer.set(payload.body, offset + payload.headerLength);
    iso.actual[i] = payload.length;
    iso.status[i] = PacketStatus.OK;
    if (payload.record !== null && payload.body.length > 0 && p.frames[p.frames.length - 1] !== payload.record) p.frames.push(payload.record);
  }
}
