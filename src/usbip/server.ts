/**
 * A usbipd in TypeScript: exports device models over TCP so that any Linux box can plug them in with Debian's
 * `usbip attach -r HOST -b BUSID` (the kernel's vhci_hcd then drives them as real USB devices).
 *
 * One TCP connection per request, as usbipd does: OP_REQ_DEVLIST is answered and the connection closed;
 * OP_REQ_IMPORT is answered and, on success, the same connection carries the device's URB traffic
 * (UsbipDeviceSession) until either side ends it. A device is imported by one host at a time.
 *
 * USB/IP has no authentication: anyone who can reach the port can use the devices, hence 127.0.0.1 by default.
 * Peers are not trusted with our resources either: a handshake must be complete within handshakeTimeoutMs (a
 * peer trickling a byte a second is cut off), at most maxHandshakes connections may be in their handshake at
 * once (a newer one pushes the oldest out, so silent connections cannot lock other clients out or use up file
 * descriptors), and a peer that does not speak USB/IP is dropped. Every drop is a 'drop' event with its reason.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { debuglog } from 'node:util';
import { UvcError } from '../errors.js';
import type { UsbDeviceModel } from '../transport/device-model.js';
import { readUsbipDeviceInfo } from './device-info.js';
import { UsbipDeviceSession, type UsbipSessionEnd, type UsbipSessionOptions } from './device-session.js';
import { readEndpointLimits, type EndpointLimits } from './endpoint-limits.js';
import {
  BUSID_SIZE,
  OP_COMMON_SIZE,
  OP_IMPORT_REQUEST_SIZE,
  OpCode,
  OpStatus,
  USBIP_DEFAULT_PORT,
  USBIP_VERSION,
  decodeImportRequest,
  decodeOpCommon,
  encodeDevlistReply,
  encodeImportReply,
  type UsbipDeviceInfo,
} from './protocol.js';

export interface UsbipExport {
  /** The name hosts import it by, e.g. '1-1' (at most 31 bytes). */
  busid: string;
  model: UsbDeviceModel;
  /** busnum/devnum announced to the host (devid = busnum << 16 | devnum). Defaults: 1 and the export's index + 2. */
  busnum?: number;
  devnum?: number;
}

export interface UsbipServerOptions {
  devices: readonly UsbipExport[];
  /** Default 127.0.0.1: exporting to other machines is a deliberate choice. */
  host?: string;
  /** Default 3240 (usbipd's); 0 picks a free port. */
  port?: number;
  session?: Omit<UsbipSessionOptions, 'initialData' | 'endpoints'>;
  /** How long the model may take to answer the descriptor reads of the handshake (default 5000 ms). */
  descriptorTimeoutMs?: number;
  /** Connections in their handshake at once (default 32); a new one beyond it pushes the oldest out. */
  maxHandshakes?: number;
  /** Time a connection has for its whole handshake, answer included (default 10 000 ms). */
  handshakeTimeoutMs?: number;
}

export interface UsbipAttachEvent {
  busid: string;
  remote: string;
  session: UsbipDeviceSession;
}

export interface UsbipDetachEvent extends UsbipSessionEnd {
  busid: string;
  remote: string;
  /** The ended session (its stats stay readable). */
  session: UsbipDeviceSession;
}

export type UsbipDropReason =
  /** The peer sent something that is not a USB/IP request. */
  | 'protocol-error'
  /** The handshake was not complete in time (a silent or trickling peer, or one that never closed). */
  | 'handshake-timeout'
  /** More connections were in their handshake than maxHandshakes: the oldest went. */
  | 'too-many-handshakes';

/** A connection the server closed during the handshake. (An imported session's end is a 'detach'.) */
export interface UsbipDropEvent {
  remote: string;
  reason: UsbipDropReason;
  /** What happened, for a log line. */
  detail: string;
}

export interface UsbipRejectEvent {
  busid: string;
  remote: string;
  /** OpStatus sent to the host. */
  status: number;
  error?: Error;
}

interface ExportState {
  busid: string;
  model: UsbDeviceModel;
  busnum: number;
  devnum: number;
  session: UsbipDeviceSession | null;
  /** An import handshake is reading the descriptors. */
  importing: boolean;
}

export interface UsbipServer {
  on(event: 'attach', listener: (e: UsbipAttachEvent) => void): this;
  on(event: 'detach', listener: (e: UsbipDetachEvent) => void): this;
  on(event: 'reject', listener: (e: UsbipRejectEvent) => void): this;
  on(event: 'drop', listener: (e: UsbipDropEvent) => void): this;
  once(event: 'attach', listener: (e: UsbipAttachEvent) => void): this;
  once(event: 'detach', listener: (e: UsbipDetachEvent) => void): this;
  once(event: 'reject', listener: (e: UsbipRejectEvent) => void): this;
  once(event: 'drop', listener: (e: UsbipDropEvent) => void): this;
  off(event: 'attach' | 'detach' | 'reject' | 'drop', listener: (...args: never[]) => void): this;
}

const debug = debuglog('usbip');

export class UsbipServer extends EventEmitter {
  readonly host: string;
  private readonly exports = new Map<string, ExportState>();
  /** Connections in their handshake, oldest first, with their deadline timers. */
  private readonly handshakes = new Map<net.Socket, { remote: string; timer: NodeJS.Timeout }>();
  private closing: Promise<void> | null = null;

  /** Use startUsbipServer(). */
  constructor(
    private readonly server: net.Server,
    options: UsbipServerOptions,
  ) {
    super();
    this.host = options.host ?? '127.0.0.1';
    options.devices.forEach((d, index) => {
      if (this.exports.has(d.busid)) throw new UvcError('EINVAL', `busid '${d.busid}' exported twice`);
      if (Buffer.byteLength(d.busid) >= BUSID_SIZE || d.busid.length === 0) {
        throw new UvcError('EINVAL', `busid '${d.busid}' must be 1–${BUSID_SIZE - 1} bytes`);
      }
      this.exports.set(d.busid, { busid: d.busid, model: d.model, busnum: d.busnum ?? 1, devnum: d.devnum ?? index + 2, session: null, importing: false });
    });
    server.on('connection', (socket) => this.onConnection(socket, options));
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The session serving `busid`, if a host has it imported. */
  sessionOf(busid: string): UsbipDeviceSession | null {
    return this.exports.get(busid)?.session ?? null;
  }

  /** Stops listening and unplugs every imported device (the hosts see a disconnect). */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of [...this.handshakes.keys()]) s.destroy();
      for (const e of this.exports.values()) e.session?.close('server-closed');
    });
    return this.closing;
  }

  /** Connections in their handshake right now (for tests and stats). */
  get handshaking(): number {
    return this.handshakes.size;
  }

  private drop(socket: net.Socket, reason: UsbipDropReason, detail: string): void {
    const remote = this.handshakes.get(socket)?.remote ?? `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.forget(socket);
    socket.destroy();
    debug('dropped %s: %s (%s)', remote, reason, detail);
    this.emit('drop', { remote, reason, detail });
  }

  /** The connection is no longer in its handshake (closed, dropped, or now an imported session). */
  private forget(socket: net.Socket): void {
    const h = this.handshakes.get(socket);
    if (h === undefined) return;
    clearTimeout(h.timer);
    this.handshakes.delete(socket);
  }

  private onConnection(socket: net.Socket, options: UsbipServerOptions): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const max = options.maxHandshakes ?? 32;
    while (this.handshakes.size >= max) {
      const oldest = this.handshakes.keys().next().value as net.Socket;
      this.drop(oldest, 'too-many-handshakes', `${max} connections were in their handshake; this was the oldest`);
    }
    const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
    const timer = setTimeout(() => this.drop(socket, 'handshake-timeout', `no complete handshake in ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    this.handshakes.set(socket, { remote, timer });
    socket.on('close', () => this.forget(socket));
    socket.on('error', () => socket.destroy());
    let received: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      if (received.length < OP_COMMON_SIZE) return;
      const op = decodeOpCommon(received);
      if (op.version !== USBIP_VERSION || (op.code !== OpCode.REQ_DEVLIST && op.code !== OpCode.REQ_IMPORT)) {
        // usbipd drops a peer it does not understand without a word; we say why in the event.
        socket.off('data', onData);
        this.drop(socket, 'protocol-error', `not a USB/IP request: version 0x${op.version.toString(16)}, code 0x${op.code.toString(16)}`);
        return;
      }
      if (op.code === OpCode.REQ_DEVLIST) {
        socket.off('data', onData);
        this.answerDevlist(socket, options.descriptorTimeoutMs);
        return;
      }
      if (received.length < OP_IMPORT_REQUEST_SIZE) return;
      socket.off('data', onData);
      socket.pause();
      const { busid } = decodeImportRequest(received);
      this.answerImport(socket, remote, busid, received.subarray(OP_IMPORT_REQUEST_SIZE), options);
    };
    socket.on('data', onData);
  }

  private answerDevlist(socket: net.Socket, timeoutMs: number | undefined): void {
    void (async () => {
      const devices: UsbipDeviceInfo[] = [];
      for (const e of this.exports.values()) {
        if (!e.model.attached) continue; // not on the bus: not exportable
        try {
          devices.push(await readUsbipDeviceInfo(e.model, this.addressOf(e), timeoutMs));
        } catch {
          // A device that can't describe itself is left out of the list, as usbipd skips unreadable ones.
        }
      }
      if (!socket.destroyed) socket.end(encodeDevlistReply(devices));
    })();
  }

  private answerImport(socket: net.Socket, remote: string, busid: string, rest: Buffer, options: UsbipServerOptions): void {
    void (async () => {
      const e = this.exports.get(busid);
      const reject = (status: number, error?: Error): void => {
        this.emit('reject', error === undefined ? { busid, remote, status } : { busid, remote, status, error });
        if (!socket.destroyed) socket.end(encodeImportReply(status));
      };
      if (e === undefined || !e.model.attached) return reject(OpStatus.NODEV);
      if (e.session !== null || e.importing) return reject(OpStatus.DEV_BUSY);
      if (this.closing !== null) return reject(OpStatus.NA);
      // Claim the device before the first await so that a concurrent import sees it busy.
      e.importing = true;
      let info: UsbipDeviceInfo;
      let endpoints: EndpointLimits;
      try {
        info = await readUsbipDeviceInfo(e.model, this.addressOf(e), options.descriptorTimeoutMs);
        endpoints = await readEndpointLimits(e.model, options.descriptorTimeoutMs);
      } catch (err) {
        return reject(OpStatus.DEV_ERR, err instanceof Error ? err : new Error(String(err)));
      } finally {
        e.importing = false;
      }
      if (socket.destroyed || this.closing !== null || !e.model.attached) {
        return socket.destroyed ? undefined : reject(OpStatus.NA);
      }
      socket.write(encodeImportReply(OpStatus.OK, info));
      this.forget(socket);
      const session = new UsbipDeviceSession(socket, e.model, { ...options.session, endpoints, initialData: rest });
      e.session = session;
      this.emit('attach', { busid, remote, session });
      void session.closed.then((end) => {
        if (e.session === session) e.session = null;
        this.emit('detach', { busid, remote, session, ...end });
      });
    })();
  }

  private addressOf(e: ExportState): { busid: string; busnum: number; devnum: number; path: string } {
    return { busid: e.busid, busnum: e.busnum, devnum: e.devnum, path: `/sys/devices/platform/uvc-capture/usbip/${e.busid}` };
  }
}

/** Starts a usbipd-compatible server. Resolves once it listens. */
export async function startUsbipServer(options: UsbipServerOptions): Promise<UsbipServer> {
  const server = net.createServer();
  const usbip = new UsbipServer(server, options);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? USBIP_DEFAULT_PORT, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return usbip;
}
