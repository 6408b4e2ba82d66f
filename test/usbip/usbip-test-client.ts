/**
 * The host side of USB/IP, as the kernel's vhci_hcd and Debian's usbip tool speak it, for in-process tests of
 * the server: devlist, import, then CMD_SUBMIT / CMD_UNLINK with their answers matched by seqnum.
 */
import net from 'node:net';
import {
  ISO_DESCRIPTOR_SIZE,
  OP_COMMON_SIZE,
  URB_HEADER_SIZE,
  USB_DEVICE_SIZE,
  UrbCommand,
  UsbipDirection,
  decodeDevlistReply,
  decodeImportReply,
  decodeIsoDescriptor,
  decodeUrbHeader,
  encodeCmdSubmit,
  encodeCmdUnlink,
  encodeDevlistRequest,
  encodeImportRequest,
  retSubmitBodyLength,
  type IsoPacketDescriptor,
  type OpCommon,
  type RetSubmit,
  type UsbipDeviceInfo,
} from '../../src/usbip/protocol.js';
import { UrbFramer } from '../../src/usbip/urb-framer.js';

export interface SubmitResult {
  header: RetSubmit;
  /** IN data as received (iso: compacted). */
  data: Buffer;
  iso: IsoPacketDescriptor[];
}

export interface UnlinkResult {
  seqnum: number;
  status: number;
}

/** Everything the server sent, in order, for assertions about what was NOT sent. */
export type Received = { kind: 'submit'; seqnum: number } | { kind: 'unlink'; seqnum: number };

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // As `usbip attach` does (usbip_net_set_nodelay): URB headers must not wait for Nagle.
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.setNoDelay(true);
    s.once('error', reject);
  });
}

function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

export async function requestDevlist(port: number): Promise<{ header: OpCommon; devices: UsbipDeviceInfo[] }> {
  const s = await connect(port);
  s.write(encodeDevlistRequest());
  const reply = decodeDevlistReply(await readAll(s));
  if (reply === undefined) throw new Error('truncated OP_REP_DEVLIST');
  return reply;
}

/** Sends OP_REQ_IMPORT; on success returns a client ready for URB traffic. */
export async function importDevice(port: number, busid: string): Promise<{ status: number; device?: UsbipDeviceInfo; client?: UsbipTestClient }> {
  const s = await connect(port);
  s.write(encodeImportRequest(busid));
  const head = await readBytes(s, OP_COMMON_SIZE);
  const status = head.readUInt32BE(4);
  if (status !== 0) {
    s.destroy();
    return { status };
  }
  const rest = await readBytes(s, USB_DEVICE_SIZE);
  const { device } = decodeImportReply(Buffer.concat([head, rest]));
  return device === undefined ? { status } : { status, device, client: new UsbipTestClient(s, (device.busnum << 16) | device.devnum) };
}

/** Reads exactly n bytes before any 'data' listener of the URB phase exists. */
function readBytes(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tryRead = (): void => {
      const b = s.read(n) as Buffer | null;
      if (b !== null) {
        s.off('readable', tryRead);
        s.off('end', onEnd);
        resolve(b);
      }
    };
    const onEnd = (): void => reject(new Error(`connection closed before ${n} bytes`));
    s.on('readable', tryRead);
    s.once('end', onEnd);
    tryRead();
  });
}

interface PendingSubmit {
  direction: number;
  resolve: (r: SubmitResult) => void;
}

export class UsbipTestClient {
  private seq = 1;
  private readonly submits = new Map<number, PendingSubmit>();
  private readonly unlinks = new Map<number, (r: UnlinkResult) => void>();
  readonly received: Received[] = [];
  readonly closed: Promise<void>;

  constructor(
    readonly socket: net.Socket,
    private readonly devid: number,
  ) {
    const framer = new UrbFramer(
      (h, at) => {
        const command = h.readUInt32BE(at);
        if (command === UrbCommand.RET_UNLINK) return 0;
        if (command !== UrbCommand.RET_SUBMIT) throw new Error(`server sent command ${command}`);
        const pending = this.submits.get(h.readUInt32BE(at + 4));
        if (pending === undefined) throw new Error(`RET_SUBMIT for unknown seqnum ${h.readUInt32BE(at + 4)}`);
        return retSubmitBodyLength(pending.direction, h.readInt32BE(at + 24), h.readInt32BE(at + 32));
      },
      (h, at, body) => this.onMessage(decodeUrbHeader(h, at), Buffer.from(body)),
    );
    socket.on('data', (c: Buffer) => framer.push(c));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  private onMessage(header: ReturnType<typeof decodeUrbHeader>, body: Buffer): void {
    if (header.command === UrbCommand.RET_UNLINK) {
      this.received.push({ kind: 'unlink', seqnum: header.seqnum });
      const r = this.unlinks.get(header.seqnum);
      this.unlinks.delete(header.seqnum);
      r?.({ seqnum: header.seqnum, status: header.status });
      return;
    }
    if (header.command !== UrbCommand.RET_SUBMIT) return;
    this.received.push({ kind: 'submit', seqnum: header.seqnum });
    const pending = this.submits.get(header.seqnum)!;
    this.submits.delete(header.seqnum);
    const dataLength = pending.direction === UsbipDirection.IN ? header.actualLength : 0;
    const iso: IsoPacketDescriptor[] = [];
    for (let i = 0; i < Math.max(0, header.numberOfPackets); i++) iso.push(decodeIsoDescriptor(body, dataLength + i * ISO_DESCRIPTOR_SIZE));
    pending.resolve({ header, data: body.subarray(0, dataLength), iso });
  }

  /** Submits a URB; returns its seqnum and the promise of its RET_SUBMIT. */
  submit(options: {
    ep: number;
    direction: number;
    length: number;
    setup?: Uint8Array;
    data?: Uint8Array;
    iso?: { offset: number; length: number }[];
    flags?: number;
    numberOfPackets?: number;
  }): { seqnum: number; result: Promise<SubmitResult> } {
    const seqnum = this.seq++;
    const packets = options.iso?.length ?? 0;
    const out = options.direction === UsbipDirection.OUT ? options.length : 0;
    const msg = Buffer.alloc(URB_HEADER_SIZE + out + packets * ISO_DESCRIPTOR_SIZE);
    encodeCmdSubmit(msg, 0, {
      seqnum,
      devid: this.devid,
      direction: options.direction,
      ep: options.ep,
      transferFlags: options.flags ?? 0,
      transferBufferLength: options.length,
      startFrame: 0,
      numberOfPackets: options.numberOfPackets ?? packets,
      interval: 0,
      setup: options.setup ?? new Uint8Array(8),
    });
    if (options.data !== undefined) msg.set(options.data, URB_HEADER_SIZE);
    options.iso?.forEach((p, i) => {
      const at = URB_HEADER_SIZE + out + i * ISO_DESCRIPTOR_SIZE;
      msg.writeUInt32BE(p.offset, at);
      msg.writeUInt32BE(p.length, at + 4);
    });
    const result = new Promise<SubmitResult>((resolve) => this.submits.set(seqnum, { direction: options.direction, resolve }));
    this.socket.write(msg);
    return { seqnum, result };
  }

  control(setup: { bmRequestType: number; bRequest: number; wValue: number; wIndex: number; wLength: number }, data?: Uint8Array, flags = 0): Promise<SubmitResult> {
    const s = Buffer.alloc(8);
    s[0] = setup.bmRequestType;
    s[1] = setup.bRequest;
    s.writeUInt16LE(setup.wValue, 2);
    s.writeUInt16LE(setup.wIndex, 4);
    s.writeUInt16LE(setup.wLength, 6);
    const isIn = (setup.bmRequestType & 0x80) !== 0;
    return this.submit({
      ep: 0,
      direction: isIn ? UsbipDirection.IN : UsbipDirection.OUT,
      length: setup.wLength,
      setup: s,
      flags,
      ...(data === undefined ? {} : { data }),
    }).result;
  }

  unlink(victim: number): { seqnum: number; result: Promise<UnlinkResult> } {
    const seqnum = this.seq++;
    const msg = Buffer.alloc(URB_HEADER_SIZE);
    encodeCmdUnlink(msg, 0, seqnum, this.devid, victim);
    const result = new Promise<UnlinkResult>((resolve) => this.unlinks.set(seqnum, resolve));
    this.socket.write(msg);
    return { seqnum, result };
  }

  /** RET_SUBMITs still awaited. */
  get awaiting(): number {
    return this.submits.size;
  }

  close(): void {
    this.socket.destroy();
  }
}
