/**
 * The URB loop of one imported device: CMD_SUBMIT / CMD_UNLINK from a USB/IP host (the kernel's vhci_hcd, or any
 * client) on one socket, answered with RET_SUBMIT / RET_UNLINK by driving a UsbDeviceModel, the job the kernel's
 * usbip-host (stub_rx.c / stub_tx.c) does for a real device.
 *
 * - Every URB goes to the model as soon as it arrives, so the model sees the whole queue of an endpoint (an iso
 *   stream must never starve between URBs); the model serves one endpoint's requests back to back.
 * - Replies leave per endpoint in submission order (a URB's RET_SUBMIT waits for its elders on the same
 *   endpoint), whatever order the model resolves in; endpoints don't wait for each other.
 * - CMD_UNLINK of a URB whose RET_SUBMIT has not left: abort it and wait (briefly) for the model's answer. A bare
 *   'cancelled' means nothing was taken from the device: RET_UNLINK -ECONNRESET, and never its RET_SUBMIT (the
 *   kernel would drop the connection on a RET_SUBMIT for a URB it has given back). Anything else (the model had
 *   already handed the URB its data when the unlink came) is an answer: its RET_SUBMIT leaves in its turn, then
 *   RET_UNLINK 0, and vhci_hcd gives the URB back with that data. usbip-host's stub_complete drops such data;
 *   we lose nothing the device sent. Of a URB already answered: RET_UNLINK 0. Of a URB not submitted yet:
 *   vhci_hcd can send a CMD_UNLINK before the CMD_SUBMIT it cancels (see `earlyUnlinks`); the unlink waits for
 *   it, briefly, and then cancels it.
 * - The model's 'unplug' closes the socket: a real unplug for the host. The host closing the socket (usbip
 *   detach) is an unplug for us: everything pending is aborted.
 * - The host is a network peer, not trusted: a URB is checked against the device's endpoints (EndpointLimits)
 *   before anything is allocated for it, an iso IN buffer is sized by what the endpoint can send (not by the
 *   host's transfer_buffer_length), and the bytes the session holds for the host (pending buffers, a partly
 *   received OUT body, replies it has not read) have a ceiling. A host that breaks a rule is disconnected with
 *   the reason ('protocol-error', 'resource-limit') in `closed`.
 */
import type { Socket } from 'node:net';
import { debuglog } from 'node:util';
import { UvcError } from '../errors.js';
import { ENDPOINT_DIR_IN } from '../spec/usb.js';
import {
  PacketStatus,
  type DeviceReplyStatus,
  type EndpointReply,
  type EndpointRequest,
  type IsoPacketSlots,
  type SetupPacket,
  type UsbDeviceModel,
} from '../transport/device-model.js';
import { BufferPool } from './buffer-pool.js';
import { isIsochronous, type EndpointLimits } from './endpoint-limits.js';
import {
  Errno,
  ISO_DESCRIPTOR_SIZE,
  URB_HEADER_SIZE,
  UrbCommand,
  UrbTransferFlag,
  UsbipDirection,
  cmdSubmitBodyLength,
  encodeIsoDescriptor,
  encodeRetSubmit,
  encodeRetUnlink,
} from './protocol.js';
import { UrbFramer } from './urb-framer.js';

const debug = debuglog('usbip');

/**
 * How long an unlink of a pending URB waits for its RET_SUBMIT to leave: for the model to answer the abort, and
 * for the elders on its endpoint, if the model had answered it. Past that it is cancelled (-ECONNRESET).
 */
const UNLINK_ANSWER_WAIT_MS = 100;
/** How long an unlink naming a URB not submitted yet waits for its CMD_SUBMIT (vhci_hcd sends it right after). */
const EARLY_UNLINK_WAIT_MS = 250;
/** At most this many such unlinks wait at once; more are answered 0 at once (a host naming seqnums nobody used). */
const MAX_EARLY_UNLINKS = 64;
/** Seqnums remembered as answered, so a late unlink of one is told 0 at once, not made to wait. */
const ANSWERED_REMEMBERED = 4096;

export type UsbipCloseReason =
  /** The host closed the connection (usbip detach, vhci shutdown). */
  | 'host-closed'
  /** The model unplugged. */
  | 'device-unplugged'
  /** close() was called. */
  | 'server-closed'
  /** The host sent something that is not USB/IP, or a URB no USB host would send to this device. */
  | 'protocol-error'
  /** The host asked the session to hold more than its limits (pending URBs, buffered bytes). */
  | 'resource-limit'
  /** The socket failed. */
  | 'socket-error';

export interface UsbipSessionEnd {
  reason: UsbipCloseReason;
  error?: Error;
}

export interface UsbipSessionOptions {
  /** Bytes already read from the socket after the handshake. */
  initialData?: Uint8Array;
  /**
   * The device's endpoints (readEndpointLimits): a URB for an endpoint it lacks, or with packets on a non-iso
   * endpoint (or none on an iso one), is a protocol error, and iso buffers are sized by the endpoint. Without it
   * only the generic limits below apply.
   */
  endpoints?: EndpointLimits;
  /** Largest transfer_buffer_length accepted; more is a protocol error (default 16 MiB, usbfs's default budget). */
  maxTransferLength?: number;
  /** Largest number_of_packets accepted (default 1024; usbfs allows 128). */
  maxIsoPackets?: number;
  /** Most URBs pending at once (default 4096); more is a resource-limit disconnect. */
  maxPendingUrbs?: number;
  /**
   * Most bytes the session holds for the host at once: buffers of pending URBs, OUT data, replies not yet read
   * by the host (default 64 MiB); more is a resource-limit disconnect.
   */
  maxBufferedBytes?: number;
}

export interface UsbipSessionStats {
  submitted: number;
  completed: number;
  /**
   * Unlinks that cancelled a URB (RET_UNLINK -ECONNRESET, no RET_SUBMIT): the device had given it nothing, or its
   * answer was still held behind elders on its endpoint UNLINK_ANSWER_WAIT_MS after the unlink.
   */
  unlinkedPending: number;
  /** Unlinks of URBs answered already (RET_UNLINK 0, after the URB's RET_SUBMIT). */
  unlinkedCompleted: number;
  /**
   * Unlinks that raced the device's answer: the model had handed the URB data, but its RET_SUBMIT had not left.
   * The data went out, then RET_UNLINK 0 (also counted in unlinkedCompleted).
   */
  unlinkedRacingAnswer: number;
  /** Unlinks that came before the CMD_SUBMIT they cancel (vhci_hcd's race; also counted in unlinkedPending). */
  unlinkedBeforeSubmit: number;
  isoPackets: number;
  bytesIn: number;
  bytesOut: number;
  /** The most bytes the session held for the host at once (see maxBufferedBytes). */
  peakBufferedBytes: number;
}

/** One URB between CMD_SUBMIT and the moment its RET_SUBMIT leaves (or its unlink is answered). */
interface Urb {
  seqnum: number;
  /** Endpoint queue index: endpoint number, plus 16 for IN. */
  queue: number;
  controller: AbortController;
  /** The RET_SUBMIT (header + data + iso descriptors) once the model answered. */
  reply: Buffer | null;
  replyLength: number;
  /** The pooled buffer the model writes into / the reply lives in. */
  buffer: Buffer;
  /** OUT data received with the URB (held until the URB leaves the queue). */
  outBytes: number;
  /** Unlinked or abandoned: the model's late answer is dropped. */
  dropped: boolean;
  /** The model's promise has settled: nobody writes into `buffer` any more. */
  settled: boolean;
  /** The CMD_UNLINK waiting on this URB (-1: none), answered when its RET_SUBMIT leaves or it is cancelled. */
  unlinkSeqnum: number;
  /** Cancels the URB if its RET_SUBMIT has not left within UNLINK_ANSWER_WAIT_MS of the unlink. */
  unlinkTimer: NodeJS.Timeout | null;
  next: Urb | null;
}

const STATUS_ERRNO: Record<DeviceReplyStatus, number> = {
  ok: 0,
  stall: -Errno.EPIPE,
  no_device: -Errno.ENODEV,
  cancelled: -Errno.ECONNRESET,
  overflow: -Errno.EOVERFLOW,
  error: -Errno.EPROTO,
};

function packetErrno(status: number): number {
  if (status === PacketStatus.OK) return 0;
  if (status === PacketStatus.OVERFLOW) return -Errno.EOVERFLOW;
  return -Errno.EPROTO;
}

const QUEUES = 32;

export class UsbipDeviceSession {
  /** Resolves once, when the session has ended and every pending request was aborted. */
  readonly closed: Promise<UsbipSessionEnd>;
  readonly stats: UsbipSessionStats = {
    submitted: 0,
    completed: 0,
    unlinkedPending: 0,
    unlinkedCompleted: 0,
    unlinkedRacingAnswer: 0,
    unlinkedBeforeSubmit: 0,
    isoPackets: 0,
    bytesIn: 0,
    bytesOut: 0,
    peakBufferedBytes: 0,
  };

  private readonly pending = new Map<number, Urb>();
  private readonly heads: (Urb | null)[] = new Array<Urb | null>(QUEUES).fill(null);
  private readonly tails: (Urb | null)[] = new Array<Urb | null>(QUEUES).fill(null);
  private readonly pool = new BufferPool(8 * 1024 * 1024);
  private readonly framer: UrbFramer;
  private readonly endpoints: EndpointLimits | undefined;
  private readonly maxTransferLength: number;
  private readonly maxIsoPackets: number;
  private readonly maxPendingUrbs: number;
  private readonly maxBufferedBytes: number;
  /** Bytes held for the host: pooled buffers taken and not given back, and OUT data of queued URBs. */
  private bufferedBytes = 0;
  private ended = false;
  private resolveClosed!: (end: UsbipSessionEnd) => void;
  /**
   * The model left the bus. What it answered just before (a transfer it completed with the packets it sent, then
   * unplugged in the same call) is still on its way through promise continuations: let those replies go out,
   * then close. Its 'no_device' answers to the rest are not sent: a device that left says nothing more.
   */
  private readonly onUnplug = (): void => {
    if (this.unplugging) return;
    this.unplugging = true;
    setImmediate(() => this.close('device-unplugged'));
  };
  private unplugging = false;
  /**
   * Unlinks naming a URB not submitted yet, by victim seqnum. vhci_hcd can send a CMD_UNLINK ahead of the
   * CMD_SUBMIT it cancels: its transmit thread sends the URBs queued, then the unlinks queued, so a URB queued and
   * unlinked in between goes out after its unlink. It then gives the URB back when the RET_UNLINK comes (the
   * submit has left by then), and a RET_SUBMIT for it after that makes it drop the whole connection ("cannot
   * find a urb of seqnum"). So the unlink waits for its URB: when the CMD_SUBMIT comes, the URB is cancelled
   * unseen by the model and the unlink answered -ECONNRESET; if none comes within EARLY_UNLINK_WAIT_MS, RET_UNLINK 0.
   */
  private readonly earlyUnlinks = new Map<number, { unlinkSeqnum: number; timer: NodeJS.Timeout }>();
  /** Seqnums answered lately (a RET_SUBMIT sent, or unlinked): an unlink naming one is late, answered 0 at once. */
  private readonly answered = new Set<number>();
  private readonly answeredRing = new Float64Array(ANSWERED_REMEMBERED).fill(-1);
  private answeredAt = 0;

  constructor(
    private readonly socket: Socket,
    private readonly model: UsbDeviceModel,
    options: UsbipSessionOptions = {},
  ) {
    this.endpoints = options.endpoints;
    this.maxTransferLength = options.maxTransferLength ?? 16 * 1024 * 1024;
    this.maxIsoPackets = options.maxIsoPackets ?? 1024;
    this.maxPendingUrbs = options.maxPendingUrbs ?? 4096;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.framer = new UrbFramer(
      (h, at) => this.bodyLengthOf(h, at),
      (h, at, body) => this.onMessage(h, at, body),
    );
    socket.setNoDelay(true);
    // A host that vanished without closing (a machine switched off) is noticed, not waited for forever.
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.feed(chunk));
    socket.on('end', () => this.close('host-closed'));
    socket.on('close', () => this.close('host-closed'));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The host tearing the connection down (vhci's shutdown) can surface as a reset or a broken pipe.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.close('host-closed');
      else this.close('socket-error', err);
    });
    model.on('unplug', this.onUnplug);
    if (!model.attached) {
      queueMicrotask(() => this.close('device-unplugged'));
      return;
    }
    if (options.initialData !== undefined && options.initialData.length > 0) this.feed(Buffer.from(options.initialData));
    socket.resume();
  }

  /** URBs submitted and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Bytes the session holds for the host right now (see maxBufferedBytes). */
  get bufferedBytesNow(): number {
    return this.bufferedBytes;
  }

  /** Ends the session: aborts everything pending and closes the socket (the host sees an unplug). */
  close(reason: UsbipCloseReason = 'server-closed', error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.model.off('unplug', this.onUnplug);
    for (const urb of this.pending.values()) this.drop(urb);
    this.pending.clear();
    for (const early of this.earlyUnlinks.values()) clearTimeout(early.timer);
    this.earlyUnlinks.clear();
    this.heads.fill(null);
    this.tails.fill(null);
    if (reason === 'device-unplugged') {
      // What the device sent before it left is on the wire: let the replies already written reach the host
      // (destroy() would drop whatever the socket had not flushed yet), then close.
      const socket = this.socket;
      const t0 = Date.now();
      debug('device unplugged: %d bytes of replies not yet handed to the kernel; ending the connection', socket.writableLength);
      socket.once('finish', () => debug('unplug: every reply handed to the kernel after %d ms', Date.now() - t0));
      socket.once('close', () => debug('unplug: connection closed after %d ms', Date.now() - t0));
      socket.end();
      setTimeout(() => {
        if (!socket.destroyed) debug('unplug: the host did not close within 2000 ms; %d bytes of replies still unsent are dropped', socket.writableLength);
        socket.destroy();
      }, 2000).unref();
    } else {
      this.socket.destroy();
    }
    this.resolveClosed(error === undefined ? { reason } : { reason, error });
  }

  private feed(chunk: Buffer): void {
    if (this.ended) return;
    try {
      this.framer.push(chunk);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.close((error as { code?: string }).code === 'ENOMEM' ? 'resource-limit' : 'protocol-error', error);
    }
  }

  /** Takes a buffer for the host, within the session's budget (throws ENOMEM beyond it). */
  private take(size: number): Buffer {
    this.reserve(size);
    return this.pool.take(size);
  }

  /** Gives back a buffer taken with take(). */
  private release(buffer: Buffer): void {
    this.bufferedBytes -= buffer.length;
    this.pool.give(buffer);
  }

  private reserve(size: number): void {
    this.checkBudget(size);
    this.bufferedBytes += size;
    if (this.bufferedBytes > this.stats.peakBufferedBytes) this.stats.peakBufferedBytes = this.bufferedBytes;
  }

  private checkBudget(size: number): void {
    if (this.bufferedBytes + size > this.maxBufferedBytes) {
      throw new UvcError('ENOMEM', `the host made the session hold more than ${this.maxBufferedBytes} bytes (${this.bufferedBytes} held, ${size} more asked)`, {
        details: { held: this.bufferedBytes, asked: size, limit: this.maxBufferedBytes },
      });
    }
  }

  /** Checks a message's header against the protocol and the device before its body is read or anything allocated. */
  private bodyLengthOf(h: Buffer, at: number): number {
    const command = h.readUInt32BE(at);
    if (command === UrbCommand.CMD_UNLINK) return 0;
    if (command !== UrbCommand.CMD_SUBMIT) {
      throw new UvcError('EPROTO', `a USB/IP host sent command 0x${command.toString(16)}`, { details: { command } });
    }
    const direction = h.readUInt32BE(at + 12);
    const ep = h.readUInt32BE(at + 16);
    const length = h.readInt32BE(at + 24);
    const packets = h.readInt32BE(at + 32);
    if (direction !== UsbipDirection.OUT && direction !== UsbipDirection.IN) throw new UvcError('EPROTO', `CMD_SUBMIT direction ${direction}`);
    if (ep > 15) throw new UvcError('EPROTO', `CMD_SUBMIT endpoint ${ep}`);
    if (length < 0 || length > this.maxTransferLength) throw new UvcError('EPROTO', `CMD_SUBMIT transfer_buffer_length ${length} (at most ${this.maxTransferLength})`);
    if (packets > this.maxIsoPackets) throw new UvcError('EPROTO', `CMD_SUBMIT number_of_packets ${packets} (at most ${this.maxIsoPackets})`);
    const isIn = direction === UsbipDirection.IN;
    if (ep === 0) {
      // wLength is 16 bits: a control transfer never carries more.
      if (length > 0xffff) throw new UvcError('EPROTO', `CMD_SUBMIT transfer_buffer_length ${length} on endpoint 0`);
      if (packets > 0) throw new UvcError('EPROTO', `CMD_SUBMIT with ${packets} iso packets on endpoint 0`);
    } else if (this.endpoints !== undefined) {
      const address = ep | (isIn ? ENDPOINT_DIR_IN : 0);
      const limit = this.endpoints.get(address);
      if (limit === undefined) throw new UvcError('EPROTO', `CMD_SUBMIT for endpoint 0x${address.toString(16)}, which the device does not have`);
      if (isIsochronous(limit) !== packets > 0) {
        throw new UvcError('EPROTO', `CMD_SUBMIT with number_of_packets ${packets} for ${isIsochronous(limit) ? 'an iso' : 'a non-iso'} endpoint 0x${address.toString(16)}`);
      }
      if (!isIn && packets > 0 && length > packets * limit.maxBytesPerInterval) {
        throw new UvcError('EPROTO', `iso OUT of ${length} bytes in ${packets} packets on endpoint 0x${address.toString(16)} (at most ${limit.maxBytesPerInterval} a packet)`);
      }
    }
    if (this.pending.size >= this.maxPendingUrbs) {
      throw new UvcError('ENOMEM', `the host has ${this.pending.size} URBs pending (at most ${this.maxPendingUrbs})`);
    }
    const body = cmdSubmitBodyLength(direction, length, packets);
    // The body is read into memory before the URB exists: it must fit in the budget now.
    this.checkBudget(body);
    return body;
  }

  private onMessage(h: Buffer, at: number, body: Buffer): void {
    // The rest of a chunk that arrived with the message that ended the session (a model unplugging inside a call).
    if (this.ended) return;
    const command = h.readUInt32BE(at);
    const seqnum = h.readUInt32BE(at + 4);
    if (command === UrbCommand.CMD_UNLINK) {
      this.unlink(seqnum, h.readUInt32BE(at + 20));
      return;
    }
    if (this.pending.has(seqnum)) throw new UvcError('EPROTO', `seqnum ${seqnum} submitted twice`);
    const early = this.earlyUnlinks.get(seqnum);
    if (early !== undefined) {
      // Unlinked before it was submitted: cancelled before the model sees it; its RET_SUBMIT never goes.
      clearTimeout(early.timer);
      this.earlyUnlinks.delete(seqnum);
      this.stats.submitted++;
      this.stats.unlinkedPending++;
      this.stats.unlinkedBeforeSubmit++;
      this.remember(seqnum);
      debug('unlink %d came before the CMD_SUBMIT of %d: cancelled unseen', early.unlinkSeqnum, seqnum);
      this.sendRetUnlink(early.unlinkSeqnum, -Errno.ECONNRESET);
      return;
    }
    const direction = h.readUInt32BE(at + 12);
    const ep = h.readUInt32BE(at + 16);
    const flags = h.readUInt32BE(at + 20);
    const length = h.readInt32BE(at + 24);
    const packets = h.readInt32BE(at + 32);
    this.stats.submitted++;
    if (ep === 0) this.submitControl(seqnum, length, h, at + 40, body, flags);
    else if (packets > 0) this.submitIso(seqnum, direction, ep, length, packets, body);
    else this.submitTransfer(seqnum, direction, ep, length, packets, body, flags);
  }

  /** Queues a URB holding `buffer` (taken with take()) and `outBytes` of OUT data received with it. */
  private track(seqnum: number, queue: number, buffer: Buffer, outBytes: number): Urb {
    if (outBytes > 0) this.reserve(outBytes);
    const urb: Urb = {
      seqnum,
      queue,
      controller: new AbortController(),
      reply: null,
      replyLength: 0,
      buffer,
      outBytes,
      dropped: false,
      settled: false,
      unlinkSeqnum: -1,
      unlinkTimer: null,
      next: null,
    };
    this.pending.set(seqnum, urb);
    const tail = this.tails[queue];
    if (tail === null || tail === undefined) this.heads[queue] = urb;
    else tail.next = urb;
    this.tails[queue] = urb;
    return urb;
  }

  private submitControl(seqnum: number, length: number, h: Buffer, setupAt: number, body: Buffer, flags: number): void {
    const setup: SetupPacket = {
      bmRequestType: h[setupAt]!,
      bRequest: h[setupAt + 1]!,
      wValue: h.readUInt16LE(setupAt + 2),
      wIndex: h.readUInt16LE(setupAt + 4),
      wLength: h.readUInt16LE(setupAt + 6),
    };
    const isIn = (setup.bmRequestType & ENDPOINT_DIR_IN) !== 0;
    const room = isIn ? Math.min(length, setup.wLength) : 0;
    // Endpoint 0 is one message pipe: IN and OUT requests share one queue.
    const urb = this.track(seqnum, 0, this.take(URB_HEADER_SIZE + room), isIn ? 0 : body.length);
    const data = isIn ? undefined : body.subarray(0, Math.min(body.length, setup.wLength));
    let promise;
    try {
      promise = this.model.control(setup, data, urb.controller.signal);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (reply) => {
        if (!this.settle(urb) || this.cancelledByUnlink(urb, reply.status, reply.data?.length ?? 0)) return;
        let actual = 0;
        if (isIn && reply.data !== undefined) {
          actual = Math.min(reply.data.length, room);
          urb.buffer.set(reply.data.subarray(0, actual), URB_HEADER_SIZE);
        } else if (!isIn && reply.status === 'ok') {
          const sent = data?.length ?? 0;
          actual = reply.accepted === undefined ? sent : Math.max(0, Math.min(sent, reply.accepted));
        }
        let status = STATUS_ERRNO[reply.status] ?? -Errno.EPROTO;
        if (status === 0 && isIn && actual < length && (flags & UrbTransferFlag.SHORT_NOT_OK) !== 0) status = -Errno.EREMOTEIO;
        encodeRetSubmit(urb.buffer, 0, seqnum, status, actual, 0, 0, 0);
        this.stats.bytesIn += isIn ? actual : 0;
        this.stats.bytesOut += isIn ? 0 : actual;
        this.finish(urb, URB_HEADER_SIZE + (isIn ? actual : 0));
      },
      () => {
        // A model that throws instead of answering: the request fails like a bus error, the session goes on.
        if (!this.settle(urb)) return;
        encodeRetSubmit(urb.buffer, 0, seqnum, -Errno.EPROTO, 0, 0, 0, 0);
        this.finish(urb, URB_HEADER_SIZE);
      },
    );
  }

  private submitTransfer(seqnum: number, direction: number, ep: number, length: number, packets: number, body: Buffer, flags: number): void {
    const isIn = direction === UsbipDirection.IN;
    const urb = this.track(seqnum, ep + (isIn ? 16 : 0), this.take(URB_HEADER_SIZE + (isIn ? length : 0)), isIn ? 0 : body.length);
    const buffer = isIn ? urb.buffer.subarray(URB_HEADER_SIZE, URB_HEADER_SIZE + length) : body.subarray(0, length);
    this.callTransfer(urb, { endpoint: ep | (isIn ? ENDPOINT_DIR_IN : 0), buffer, signal: urb.controller.signal }, (reply) => {
      const actual = clamp(reply.actualLength, length);
      let status = STATUS_ERRNO[reply.status] ?? -Errno.EPROTO;
      if (status === 0 && isIn && actual < length && (flags & UrbTransferFlag.SHORT_NOT_OK) !== 0) status = -Errno.EREMOTEIO;
      // A non-iso URB's number_of_packets is echoed as usbip-host does (0 from Linux, -1 from other clients).
      encodeRetSubmit(urb.buffer, 0, seqnum, status, actual, 0, packets, 0);
      if (isIn) this.stats.bytesIn += actual;
      else this.stats.bytesOut += actual;
      return URB_HEADER_SIZE + (isIn ? actual : 0);
    });
  }

  private submitIso(seqnum: number, direction: number, ep: number, length: number, packets: number, body: Buffer): void {
    const isIn = direction === UsbipDirection.IN;
    const descriptorsAt = isIn ? 0 : length;
    // The host's slots, echoed in the reply; the model gets its own (`iso`).
    const host = isoSlots(packets);
    let valid = true;
    for (let i = 0; i < packets; i++) {
      const d = descriptorsAt + i * ISO_DESCRIPTOR_SIZE;
      const offset = body.readUInt32BE(d);
      const size = body.readUInt32BE(d + 4);
      if (offset > length || size > length - offset) valid = false;
      host.offsets[i] = offset;
      host.lengths[i] = size;
    }
    const descriptorBytes = packets * ISO_DESCRIPTOR_SIZE;
    const queue = ep + (isIn ? 16 : 0);
    if (!valid) {
      // The host described packets outside its own buffer: refuse the URB, keep the connection.
      const urb = this.track(seqnum, queue, this.take(URB_HEADER_SIZE + descriptorBytes), body.length);
      urb.settled = true;
      encodeRetSubmit(urb.buffer, 0, seqnum, -Errno.EINVAL, 0, 0, packets, packets);
      for (let i = 0; i < packets; i++) {
        encodeIsoDescriptor(urb.buffer, URB_HEADER_SIZE + i * ISO_DESCRIPTOR_SIZE, host.offsets[i]!, host.lengths[i]!, 0, -Errno.EINVAL);
      }
      this.finish(urb, URB_HEADER_SIZE + descriptorBytes);
      return;
    }
    let iso = host;
    let capacity = 0;
    if (isIn) {
      // IN: room for what the endpoint can send in each interval, packed slot after slot, whatever the host's
      // slots say (a packet's length in the reply is what the device sent; the host's offsets are echoed).
      const perPacket = this.endpoints?.get(ep | ENDPOINT_DIR_IN)?.maxBytesPerInterval ?? Number.POSITIVE_INFINITY;
      iso = isoSlots(packets);
      for (let i = 0; i < packets; i++) {
        const room = Math.min(host.lengths[i]!, perPacket);
        iso.offsets[i] = capacity;
        iso.lengths[i] = room;
        capacity += room;
      }
    }
    const urb = this.track(seqnum, queue, this.take(URB_HEADER_SIZE + capacity + descriptorBytes), isIn ? 0 : body.length);
    const data = isIn ? urb.buffer.subarray(URB_HEADER_SIZE, URB_HEADER_SIZE + capacity) : body.subarray(0, length);
    this.callTransfer(urb, { endpoint: ep | (isIn ? ENDPOINT_DIR_IN : 0), buffer: data, iso, signal: urb.controller.signal }, (reply) => {
      // IN data travels compacted: packet after packet. The model's slots ascend, so the data moves down in place.
      let total = 0;
      let errors = 0;
      for (let i = 0; i < packets; i++) {
        const actual = clamp(iso.actual[i]!, iso.lengths[i]!);
        if (isIn && actual > 0 && iso.offsets[i] !== total) data.copy(data, total, iso.offsets[i]!, iso.offsets[i]! + actual);
        host.actual[i] = actual;
        total += actual;
        if (iso.status[i] !== PacketStatus.OK) errors++;
      }
      const descriptorsStart = URB_HEADER_SIZE + (isIn ? total : 0);
      for (let i = 0; i < packets; i++) {
        encodeIsoDescriptor(urb.buffer, descriptorsStart + i * ISO_DESCRIPTOR_SIZE, host.offsets[i]!, host.lengths[i]!, host.actual[i]!, packetErrno(iso.status[i]!));
      }
      const status = STATUS_ERRNO[reply.status] ?? -Errno.EPROTO;
      encodeRetSubmit(urb.buffer, 0, seqnum, status, total, reply.startFrame, packets, errors);
      this.stats.isoPackets += packets;
      if (isIn) this.stats.bytesIn += total;
      else this.stats.bytesOut += total;
      return descriptorsStart + descriptorBytes;
    });
  }

  private callTransfer(urb: Urb, request: EndpointRequest, build: (reply: EndpointReply) => number): void {
    let promise;
    try {
      promise = this.model.transfer(request);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (reply) => {
        if (this.unplugging && reply.status === 'no_device') {
          this.settle(urb); // never answered; close() drops it
          return;
        }
        if (this.settle(urb) && !this.cancelledByUnlink(urb, reply.status, reply.actualLength)) this.finish(urb, build(reply));
      },
      () => {
        // A model that throws instead of answering: the request fails like a bus error, the session goes on.
        if (!this.settle(urb)) return;
        const iso = request.iso;
        if (iso !== undefined) {
          iso.actual.fill(0);
          iso.status.fill(PacketStatus.ERROR);
        }
        this.finish(urb, build({ status: 'error', actualLength: 0, startFrame: 0 }));
      },
    );
  }

  /**
   * The model answered a URB being unlinked with a bare 'cancelled': the unlink won, the device gave it nothing.
   * True when the URB was cancelled here.
   */
  private cancelledByUnlink(urb: Urb, status: DeviceReplyStatus, actual: number): boolean {
    if (urb.unlinkSeqnum < 0 || status !== 'cancelled' || actual > 0) return false;
    this.cancelForUnlink(urb);
    return true;
  }

  /** Marks the model's work on a URB done; false if nobody wants the answer any more (buffer recycled). */
  private settle(urb: Urb): boolean {
    urb.settled = true;
    if (urb.dropped || this.ended) {
      this.release(urb.buffer);
      return false;
    }
    return true;
  }

  private finish(urb: Urb, replyLength: number): void {
    urb.reply = urb.buffer;
    urb.replyLength = replyLength;
    this.flush(urb.queue);
  }

  /** Sends the answered URBs at the head of an endpoint's queue. */
  private flush(queue: number): void {
    let head = this.heads[queue] ?? null;
    while (head !== null && head.reply !== null) {
      const urb = head;
      this.pending.delete(urb.seqnum);
      this.remember(urb.seqnum);
      this.forgetOutData(urb);
      this.stats.completed++;
      this.send(urb.reply as Buffer, urb.replyLength);
      if (urb.unlinkSeqnum >= 0) {
        // Its data went out first: vhci_hcd gives the URB back with it, and takes the 0 as "already given back".
        stopUnlinkWait(urb);
        this.stats.unlinkedRacingAnswer++;
        debug('unlink %d raced the answer of %d: RET_SUBMIT sent, then RET_UNLINK 0', urb.unlinkSeqnum, urb.seqnum);
        this.answerUnlinkDone(urb.unlinkSeqnum);
      }
      head = urb.next;
    }
    this.heads[queue] = head;
    if (head === null) this.tails[queue] = null;
  }

  private send(buffer: Buffer, length: number): void {
    if (this.ended) {
      this.release(buffer);
      return;
    }
    // The buffer stays held (and counted) until the socket has handed it to the kernel: a host that does not
    // read its replies runs into the budget instead of growing our write queue for ever.
    this.socket.write(length === buffer.length ? buffer : buffer.subarray(0, length), () => this.release(buffer));
  }

  private unlink(seqnum: number, victimSeqnum: number): void {
    const victim = this.pending.get(victimSeqnum);
    if (victim === undefined) {
      if (!this.answered.has(victimSeqnum) && !this.earlyUnlinks.has(victimSeqnum) && this.earlyUnlinks.size < MAX_EARLY_UNLINKS) {
        // Not submitted yet (or never will be: a host naming seqnums nobody used gets its 0 after the wait).
        const timer = setTimeout(() => {
          this.earlyUnlinks.delete(victimSeqnum);
          this.answerUnlinkDone(seqnum);
        }, EARLY_UNLINK_WAIT_MS);
        this.earlyUnlinks.set(victimSeqnum, { unlinkSeqnum: seqnum, timer });
        return;
      }
      this.answerUnlinkDone(seqnum);
      return;
    }
    if (victim.unlinkSeqnum >= 0) {
      // A second unlink of one URB (no vhci_hcd sends that): the first one gets the real answer.
      this.answerUnlinkDone(seqnum);
      return;
    }
    // The model may have handed this URB data already (its answer still on its way, or held behind elders): wait
    // for that answer rather than throw the data away. A model that answers the abort with a bare 'cancelled'
    // ends the wait at once (cancelledByUnlink).
    victim.unlinkSeqnum = seqnum;
    victim.unlinkTimer = setTimeout(() => {
      victim.unlinkTimer = null;
      if (this.pending.get(victim.seqnum) === victim) this.cancelForUnlink(victim);
    }, UNLINK_ANSWER_WAIT_MS);
    victim.controller.abort();
  }

  /** The unlink won: RET_UNLINK -ECONNRESET, and the URB's RET_SUBMIT never leaves. */
  private cancelForUnlink(urb: Urb): void {
    const unlinkSeqnum = urb.unlinkSeqnum;
    this.stats.unlinkedPending++;
    this.remember(urb.seqnum);
    this.pending.delete(urb.seqnum);
    this.removeFromQueue(urb);
    this.drop(urb);
    this.sendRetUnlink(unlinkSeqnum, -Errno.ECONNRESET);
    // The URB may have been holding back answered URBs behind it.
    this.flush(urb.queue);
  }

  /** RET_UNLINK 0: the URB was answered already (or never existed). */
  private answerUnlinkDone(seqnum: number): void {
    if (this.ended) return;
    this.stats.unlinkedCompleted++;
    this.sendRetUnlink(seqnum, 0);
  }

  /** RET_UNLINK for the CMD_UNLINK `seqnum`: -ECONNRESET when the URB was cancelled unanswered, 0 when it was not. */
  private sendRetUnlink(seqnum: number, status: number): void {
    const answer = this.take(URB_HEADER_SIZE);
    encodeRetUnlink(answer, 0, seqnum, status);
    this.send(answer, URB_HEADER_SIZE);
  }

  private remember(seqnum: number): void {
    const oldest = this.answeredRing[this.answeredAt]!;
    if (oldest >= 0) this.answered.delete(oldest);
    this.answeredRing[this.answeredAt] = seqnum;
    this.answeredAt = (this.answeredAt + 1) % ANSWERED_REMEMBERED;
    this.answered.add(seqnum);
  }

  private forgetOutData(urb: Urb): void {
    this.bufferedBytes -= urb.outBytes;
    urb.outBytes = 0;
  }

  private removeFromQueue(urb: Urb): void {
    let prev: Urb | null = null;
    let cur = this.heads[urb.queue] ?? null;
    while (cur !== null && cur !== urb) {
      prev = cur;
      cur = cur.next;
    }
    if (cur === null) return;
    if (prev === null) this.heads[urb.queue] = urb.next;
    else prev.next = urb.next;
    if (this.tails[urb.queue] === urb) this.tails[urb.queue] = prev;
    urb.next = null;
  }

  /** Abandons a URB: its answer will never be sent; its buffer goes back once the model lets go of it. */
  private drop(urb: Urb): void {
    stopUnlinkWait(urb);
    urb.dropped = true;
    urb.controller.abort();
    this.forgetOutData(urb);
    if (urb.settled) this.release(urb.buffer);
  }
}

function stopUnlinkWait(urb: Urb): void {
  if (urb.unlinkTimer !== null) clearTimeout(urb.unlinkTimer);
  urb.unlinkTimer = null;
}

function clamp(value: number, max: number): number {
  return value < 0 ? 0 : value > max ? max : value | 0;
}

function isoSlots(count: number): IsoPacketSlots {
  const all = new Int32Array(count * 4);
  return {
    count,
    offsets: all.subarray(0, count),
    lengths: all.subarray(count, 2 * count),
    actual: all.subarray(2 * count, 3 * count),
    status: all.subarray(3 * count, 4 * count),
  };
}

/** Starts serving URBs for `model` on a connected socket (after the handshake, or a socket handed to vhci). */
export function serveUsbipDevice(socket: Socket, model: UsbDeviceModel, options: UsbipSessionOptions = {}): UsbipDeviceSession {
  return new UsbipDeviceSession(socket, model, options);
}
