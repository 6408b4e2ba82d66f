/**
 * The URB loop of one imported device: CMD_SUBMIT / CMD_UNLINK from a USB/IP host (the kernel's vhci_hcd, or any
 * client) on one socket, answered with RET_SUBMIT / RET_UNLINK by driving a UsbDeviceModel, the job the kernel's
 * usbip-host (stub_rx.c / stub_tx.c) does for a real device.
 *
 * - Every URB goes to the model as soon as it arrives, so the model sees the whole queue of an endpoint (an iso
 *   stream must never starve between URBs); the model serves one endpoint's requests back to back.
 * - Replies leave per endpoint in submission order (a URB's RET_SUBMIT waits for its elders on the same
 *   endpoint), whatever order the model resolves in; endpoints don't wait for each other.
 * - CMD_UNLINK of a URB whose RET_SUBMIT has not left: abort it, answer RET_UNLINK -ECONNRESET and never send its
 *   RET_SUBMIT (the kernel would drop the connection on a RET_SUBMIT for a URB it has given back). Of a URB
 *   already answered: RET_UNLINK 0.
 * - The model's 'unplug' closes the socket: a real unplug for the host. The host closing the socket (usbip
 *   detach) is an unplug for us: everything pending is aborted.
 */
import type { Socket } from 'node:net';
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

export type UsbipCloseReason =
  /** The host closed the connection (usbip detach, vhci shutdown). */
  | 'host-closed'
  /** The model unplugged. */
  | 'device-unplugged'
  /** close() was called. */
  | 'server-closed'
  /** The host sent something that is not USB/IP. */
  | 'protocol-error'
  /** The socket failed. */
  | 'socket-error';

export interface UsbipSessionEnd {
  reason: UsbipCloseReason;
  error?: Error;
}

export interface UsbipSessionOptions {
  /** Bytes already read from the socket after the handshake. */
  initialData?: Uint8Array;
  /** Largest transfer_buffer_length accepted; more is a protocol error (default 64 MiB). */
  maxTransferLength?: number;
  /** Largest number_of_packets accepted (default 4096). */
  maxIsoPackets?: number;
}

export interface UsbipSessionStats {
  submitted: number;
  completed: number;
  /** Unlinks of URBs still pending (answered -ECONNRESET). */
  unlinkedPending: number;
  /** Unlinks of URBs already answered (answered 0). */
  unlinkedCompleted: number;
  isoPackets: number;
  bytesIn: number;
  bytesOut: number;
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
  /** Unlinked or abandoned: the model's late answer is dropped. */
  dropped: boolean;
  /** The model's promise has settled: nobody writes into `buffer` any more. */
  settled: boolean;
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
    isoPackets: 0,
    bytesIn: 0,
    bytesOut: 0,
  };

  private readonly pending = new Map<number, Urb>();
  private readonly heads: (Urb | null)[] = new Array<Urb | null>(QUEUES).fill(null);
  private readonly tails: (Urb | null)[] = new Array<Urb | null>(QUEUES).fill(null);
  private readonly pool = new BufferPool();
  private readonly framer: UrbFramer;
  private readonly maxTransferLength: number;
  private readonly maxIsoPackets: number;
  private ended = false;
  private resolveClosed!: (end: UsbipSessionEnd) => void;
  private readonly onUnplug = (): void => this.close('device-unplugged');

  constructor(
    private readonly socket: Socket,
    private readonly model: UsbDeviceModel,
    options: UsbipSessionOptions = {},
  ) {
    this.maxTransferLength = options.maxTransferLength ?? 64 * 1024 * 1024;
    this.maxIsoPackets = options.maxIsoPackets ?? 4096;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.framer = new UrbFramer(
      (h, at) => this.bodyLengthOf(h, at),
      (h, at, body) => this.onMessage(h, at, body),
    );
    socket.setNoDelay(true);
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

  /** Ends the session: aborts everything pending and closes the socket (the host sees an unplug). */
  close(reason: UsbipCloseReason = 'server-closed', error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.model.off('unplug', this.onUnplug);
    for (const urb of this.pending.values()) this.drop(urb);
    this.pending.clear();
    this.heads.fill(null);
    this.tails.fill(null);
    this.socket.destroy();
    this.resolveClosed(error === undefined ? { reason } : { reason, error });
  }

  private feed(chunk: Buffer): void {
    if (this.ended) return;
    try {
      this.framer.push(chunk);
    } catch (err) {
      this.close('protocol-error', err instanceof Error ? err : new Error(String(err)));
    }
  }

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
    if (length < 0 || length > this.maxTransferLength) throw new UvcError('EPROTO', `CMD_SUBMIT transfer_buffer_length ${length}`);
    if (packets > this.maxIsoPackets) throw new UvcError('EPROTO', `CMD_SUBMIT number_of_packets ${packets}`);
    return cmdSubmitBodyLength(direction, length, packets);
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

  private track(seqnum: number, queue: number, buffer: Buffer): Urb {
    const urb: Urb = {
      seqnum,
      queue,
      controller: new AbortController(),
      reply: null,
      replyLength: 0,
      buffer,
      dropped: false,
      settled: false,
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
    const urb = this.track(seqnum, 0, this.pool.take(URB_HEADER_SIZE + room));
    const data = isIn ? undefined : body.subarray(0, Math.min(body.length, setup.wLength));
    let promise;
    try {
      promise = this.model.control(setup, data, urb.controller.signal);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (reply) => {
        if (!this.settle(urb)) return;
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
    const urb = this.track(seqnum, ep + (isIn ? 16 : 0), this.pool.take(URB_HEADER_SIZE + (isIn ? length : 0)));
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
    const iso = isoSlots(packets);
    let valid = true;
    for (let i = 0; i < packets; i++) {
      const d = descriptorsAt + i * ISO_DESCRIPTOR_SIZE;
      const offset = body.readUInt32BE(d);
      const size = body.readUInt32BE(d + 4);
      if (offset > length || size > length - offset) valid = false;
      iso.offsets[i] = offset;
      iso.lengths[i] = size;
    }
    const descriptorBytes = packets * ISO_DESCRIPTOR_SIZE;
    const urb = this.track(seqnum, ep + (isIn ? 16 : 0), this.pool.take(URB_HEADER_SIZE + (isIn ? length : 0) + descriptorBytes));
    if (!valid) {
      // The host described packets outside its own buffer: refuse the URB, keep the connection.
      urb.settled = true;
      encodeRetSubmit(urb.buffer, 0, seqnum, -Errno.EINVAL, 0, 0, packets, packets);
      for (let i = 0; i < packets; i++) {
        encodeIsoDescriptor(urb.buffer, URB_HEADER_SIZE + i * ISO_DESCRIPTOR_SIZE, iso.offsets[i]!, iso.lengths[i]!, 0, -Errno.EINVAL);
      }
      this.finish(urb, URB_HEADER_SIZE + descriptorBytes);
      return;
    }
    const data = isIn ? urb.buffer.subarray(URB_HEADER_SIZE, URB_HEADER_SIZE + length) : body.subarray(0, length);
    this.callTransfer(urb, { endpoint: ep | (isIn ? ENDPOINT_DIR_IN : 0), buffer: data, iso, signal: urb.controller.signal }, (reply) => {
      // IN data travels compacted: packet after packet without the gaps between their slots.
      let total = 0;
      let errors = 0;
      const ordered = isIn ? slotsAscending(iso) : true;
      const source = ordered ? data : Buffer.from(data);
      for (let i = 0; i < packets; i++) {
        const actual = clamp(iso.actual[i]!, iso.lengths[i]!);
        iso.actual[i] = actual;
        if (isIn && actual > 0 && iso.offsets[i] !== total) source.copy(data, total, iso.offsets[i]!, iso.offsets[i]! + actual);
        total += actual;
        if (iso.status[i] !== PacketStatus.OK) errors++;
      }
      const descriptorsStart = URB_HEADER_SIZE + (isIn ? total : 0);
      for (let i = 0; i < packets; i++) {
        encodeIsoDescriptor(urb.buffer, descriptorsStart + i * ISO_DESCRIPTOR_SIZE, iso.offsets[i]!, iso.lengths[i]!, iso.actual[i]!, packetErrno(iso.status[i]!));
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
        if (this.settle(urb)) this.finish(urb, build(reply));
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

  /** Marks the model's work on a URB done; false if nobody wants the answer any more (buffer recycled). */
  private settle(urb: Urb): boolean {
    urb.settled = true;
    if (urb.dropped || this.ended) {
      this.pool.give(urb.buffer);
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
      this.stats.completed++;
      this.send(urb.reply as Buffer, urb.replyLength);
      head = urb.next;
    }
    this.heads[queue] = head;
    if (head === null) this.tails[queue] = null;
  }

  private send(buffer: Buffer, length: number): void {
    if (this.ended) {
      this.pool.give(buffer);
      return;
    }
    this.socket.write(length === buffer.length ? buffer : buffer.subarray(0, length), () => this.pool.give(buffer));
  }

  private unlink(seqnum: number, victimSeqnum: number): void {
    const victim = this.pending.get(victimSeqnum);
    const answer = this.pool.take(URB_HEADER_SIZE);
    if (victim === undefined) {
      this.stats.unlinkedCompleted++;
      encodeRetUnlink(answer, 0, seqnum, 0);
      this.send(answer, URB_HEADER_SIZE);
      return;
    }
    this.stats.unlinkedPending++;
    this.pending.delete(victimSeqnum);
    this.removeFromQueue(victim);
    this.drop(victim);
    encodeRetUnlink(answer, 0, seqnum, -Errno.ECONNRESET);
    this.send(answer, URB_HEADER_SIZE);
    // The victim may have been holding back answered URBs behind it.
    this.flush(victim.queue);
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
    urb.dropped = true;
    urb.controller.abort();
    if (urb.settled) this.pool.give(urb.buffer);
  }
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

/** Packets laid out in ascending, non-overlapping slots: compaction can then move data down in place. */
function slotsAscending(iso: IsoPacketSlots): boolean {
  let end = 0;
  for (let i = 0; i < iso.count; i++) {
    if (iso.offsets[i]! < end) return false;
    end = iso.offsets[i]! + iso.lengths[i]!;
  }
  return true;
}

/** Starts serving URBs for `model` on a connected socket (after the handshake, or a socket handed to vhci). */
export function serveUsbipDevice(socket: Socket, model: UsbDeviceModel, options: UsbipSessionOptions = {}): UsbipDeviceSession {
  return new UsbipDeviceSession(socket, model, options);
}
